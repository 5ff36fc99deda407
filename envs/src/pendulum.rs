//! Pendulum-v1 and Pendulum-v0 (Gymnasium `classic_control/pendulum.py`).

use crate::{Dynamics, EnvSpec, Space};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f64 = 2.0;
const DT: f64 = 0.05;
const G: f64 = 10.0;
const M: f64 = 1.0;
const L: f64 = 1.0;

/// v1 integrates the angle with the clipped velocity; v0 (old gym) with the
/// unclipped one and clips afterwards, and writes gravity as `-sin(th + pi)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendulumVersion {
    V0,
    V1,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pendulum {
    pub version: PendulumVersion,
    /// Angle (0 = upright) and angular velocity.
    pub th: f64,
    pub thdot: f64,
}

impl Pendulum {
    pub fn new(version: PendulumVersion) -> Self {
        Self {
            version,
            th: 0.0,
            thdot: 0.0,
        }
    }
}

/// Python's `((x + pi) % (2 pi)) - pi`, with Python's floored modulo.
fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl Dynamics for Pendulum {
    crate::serde_state!();

    fn spec(&self) -> EnvSpec {
        let id = match self.version {
            PendulumVersion::V0 => "pendulum-v0",
            PendulumVersion::V1 => "pendulum",
        };
        EnvSpec {
            id: id.into(),
            observation: Space::Box {
                low: vec![-1.0, -1.0, -8.0],
                high: vec![1.0, 1.0, 8.0],
            },
            action: Space::Box {
                low: vec![-2.0],
                high: vec![2.0],
            },
            max_episode_steps: Some(200),
            tabular: None,
        }
    }

    fn reset(&mut self, rng: &mut ChaCha8Rng) {
        self.th = rng.random_range(-PI..PI);
        self.thdot = rng.random_range(-1.0..1.0);
    }

    fn step(&mut self, action: &[f32]) -> (f64, bool) {
        // Gymnasium clips the float32 action and, under NumPy 2's promotion rules, computes
        // the terms that involve only `u` in float32; the rest runs in float64.
        let u = action[0].clamp(-MAX_TORQUE as f32, MAX_TORQUE as f32);
        let torque = (3.0 / (M * L * L)) as f32 * u;
        let (th, thdot) = (self.th, self.thdot);
        let costs =
            angle_normalize(th).powi(2) + 0.1 * thdot * thdot + (0.001_f32 * (u * u)) as f64;
        match self.version {
            PendulumVersion::V1 => {
                let newthdot = thdot + (3.0 * G / (2.0 * L) * th.sin() + torque as f64) * DT;
                let newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
                self.th = th + newthdot * DT;
                self.thdot = newthdot;
            }
            PendulumVersion::V0 => {
                let newthdot =
                    thdot + (-3.0 * G / (2.0 * L) * (th + PI).sin() + torque as f64) * DT;
                self.th = th + newthdot * DT;
                self.thdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
            }
        }
        (-costs, false)
    }

    fn observe(&self) -> Vec<f32> {
        vec![
            self.th.cos() as f32,
            self.th.sin() as f32,
            self.thdot as f32,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_normalize_matches_python_modulo() {
        assert!((angle_normalize(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((angle_normalize(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-12);
        assert!(angle_normalize(0.1) - 0.1 < 1e-12);
    }
}
