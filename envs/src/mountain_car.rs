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
    /// `[position, velocity]`; Gymnasium stores it as float32 after each step.
    pub state: [f64; 2],
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
    }

    fn step(&mut self, action: &[f32]) -> (f64, bool) {
        let [mut position, mut velocity] = self.state;
        let force = action[0].clamp(-1.0, 1.0) as f64;
        velocity += force * POWER - 0.0025 * (3.0 * position).cos();
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= 0.0;
        // The penalty uses the unclipped action, as Gymnasium does.
        let reward = if terminated { 100.0 } else { 0.0 } - (action[0] as f64).powi(2) * 0.1;
        self.state = [position as f32 as f64, velocity as f32 as f64];
        (reward, terminated)
    }

    fn observe(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }
}
