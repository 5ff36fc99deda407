//! CartPole-v1 (Gymnasium `classic_control/cartpole.py`, Euler integrator), and v0: the same
//! dynamics with a 200-step limit.

use crate::{Dynamics, EnvSpec, Space};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASSPOLE + MASSCART;
const LENGTH: f64 = 0.5; // half the pole's length
const POLEMASS_LENGTH: f64 = MASSPOLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CartPole {
    /// `[x, x_dot, theta, theta_dot]`.
    pub state: [f64; 4],
    /// Steps taken after termination (Gymnasium then gives reward 0).
    steps_beyond_terminated: Option<u32>,
    /// CartPole-v0: episodes end after 200 steps instead of 500.
    #[serde(default)]
    pub v0: bool,
}

impl CartPole {
    pub fn v0() -> Self {
        Self {
            v0: true,
            ..Self::default()
        }
    }
}

impl Dynamics for CartPole {
    crate::serde_state!();

    fn spec(&self) -> EnvSpec {
        let high = vec![
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (THETA_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
        ];
        EnvSpec {
            id: if self.v0 { "cartpole-v0" } else { "cartpole" }.into(),
            observation: Space::Box {
                low: high.iter().map(|h| -h).collect(),
                high,
            },
            action: Space::Discrete { n: 2 },
            max_episode_steps: Some(if self.v0 { 200 } else { 500 }),
            tabular: None,
        }
    }

    fn reset(&mut self, rng: &mut ChaCha8Rng) {
        for s in &mut self.state {
            *s = rng.random_range(-0.05..0.05);
        }
        self.steps_beyond_terminated = None;
    }

    fn step(&mut self, action: &[f32]) -> (f64, bool) {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action[0].round() as i64 == 1 {
            FORCE_MAG
        } else {
            -FORCE_MAG
        };
        let (sintheta, costheta) = theta.sin_cos();
        let temp = (force + POLEMASS_LENGTH * theta_dot * theta_dot * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * costheta * costheta / TOTAL_MASS));
        let xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * xacc,
            theta + TAU * theta_dot,
            theta_dot + TAU * thetaacc,
        ];
        let [x, _, theta, _] = self.state;
        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&theta);
        // Reward 1 on every step up to and including the terminating one, 0 after it.
        let reward = match (terminated, self.steps_beyond_terminated) {
            (false, _) => 1.0,
            (true, None) => {
                self.steps_beyond_terminated = Some(0);
                1.0
            }
            (true, Some(n)) => {
                self.steps_beyond_terminated = Some(n + 1);
                0.0
            }
        };
        (reward, terminated)
    }

    fn observe(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }
}
