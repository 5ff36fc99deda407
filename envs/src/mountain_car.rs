//! MountainCarContinuous-v0 (Gymnasium `classic_control/continuous_mountain_car.py`).

use crate::{Dynamics, EnvSpec, Space};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.45;
const POWER: f64 = 0.0015;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MountainCarContinuous {
    /// `[position, velocity]`.
    pub state: [f64; 2],
    /// Gymnasium's state is a float64 array after `reset` and a float32 array after a step;
    /// under NumPy 2 the step's arithmetic runs in the state's precision (see [`Num`]).
    #[serde(default)]
    pub float32: bool,
}

/// A number as Gymnasium's `step` holds it under NumPy 2: a NumPy float32 or float64 scalar,
/// or a Python float, which is "weak" (NEP 50): combined with a NumPy scalar, or compared with
/// one, it takes that scalar's precision.
#[derive(Clone, Copy, Debug)]
enum Num {
    F32(f32),
    F64(f64),
    Py(f64),
}

impl Num {
    fn value(self) -> f64 {
        match self {
            Num::F32(x) => x as f64,
            Num::F64(x) | Num::Py(x) => x,
        }
    }

    /// `self + other` with NumPy 2's promotion.
    fn add(self, other: Num) -> Num {
        match (self, other) {
            (Num::F64(_), _) | (_, Num::F64(_)) => Num::F64(self.value() + other.value()),
            (Num::Py(a), Num::Py(b)) => Num::Py(a + b),
            _ => Num::F32(self.value() as f32 + other.value() as f32),
        }
    }

    /// `self` compared with a Python float, in `self`'s precision.
    fn cmp(self, x: f64) -> std::cmp::Ordering {
        let (a, b) = match self {
            Num::F32(v) => (v as f64, x as f32 as f64),
            Num::F64(v) | Num::Py(v) => (v, x),
        };
        a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
    }
}

impl Dynamics for MountainCarContinuous {
    crate::serde_state!();

    fn spec(&self) -> EnvSpec {
        EnvSpec {
            id: "mountaincar-continuous".into(),
            observation: Space::Box {
                low: vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                high: vec![MAX_POSITION as f32, MAX_SPEED as f32],
            },
            action: Space::Box {
                low: vec![-1.0],
                high: vec![1.0],
            },
            max_episode_steps: Some(999),
            tabular: None,
        }
    }

    fn reset(&mut self, rng: &mut ChaCha8Rng) {
        self.state = [rng.random_range(-0.6..-0.4), 0.0];
        self.float32 = false;
    }

    /// Gymnasium's step, operation by operation in the precision NumPy 2 uses.
    fn step(&mut self, action: &[f32]) -> (f64, bool) {
        use std::cmp::Ordering::{Greater, Less};
        let scalar = |x: f64| {
            if self.float32 {
                Num::F32(x as f32)
            } else {
                Num::F64(x)
            }
        };
        let (mut position, mut velocity) = (scalar(self.state[0]), scalar(self.state[1]));
        // `min(max(action[0], -1.0), 1.0)` keeps the float32 action unless it clips.
        let a = action[0];
        let force = if a > 1.0 {
            Num::Py(1.0)
        } else if a < -1.0 {
            Num::Py(-1.0)
        } else {
            Num::F32(a)
        };
        // `3 * position` in the position's precision; math.cos in float64.
        let three_p = match position {
            Num::F32(p) => (3.0 * p) as f64,
            other => 3.0 * other.value(),
        };
        let slope = Num::Py(-0.0025 * three_p.cos());
        let push = match force {
            Num::F32(f) => Num::F32(f * POWER as f32),
            other => Num::Py(other.value() * POWER),
        };
        velocity = velocity.add(push.add(slope));
        if velocity.cmp(MAX_SPEED) == Greater {
            velocity = Num::Py(MAX_SPEED);
        }
        if velocity.cmp(-MAX_SPEED) == Less {
            velocity = Num::Py(-MAX_SPEED);
        }
        position = position.add(velocity);
        if position.cmp(MAX_POSITION) == Greater {
            position = Num::Py(MAX_POSITION);
        }
        if position.cmp(MIN_POSITION) == Less {
            position = Num::Py(MIN_POSITION);
        }
        if position.cmp(MIN_POSITION).is_eq() && velocity.cmp(0.0) == Less {
            velocity = Num::Py(0.0);
        }
        let terminated = position.cmp(GOAL_POSITION).is_ge() && velocity.cmp(0.0).is_ge();
        // The penalty uses the unclipped action, in float64 (`math.pow`), as Gymnasium does.
        let reward = if terminated { 100.0 } else { 0.0 } - (action[0] as f64).powi(2) * 0.1;
        self.state = [
            position.value() as f32 as f64,
            velocity.value() as f32 as f64,
        ];
        self.float32 = true;
        (reward, terminated)
    }

    fn observe(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }
}
