//! What a plugin learns about its environment: observation and action spaces.
//!
//! Plain data, serialised as JSON when it crosses the plugin boundary, so that the
//! host, environments and plugins agree on it without sharing Rust types.

use serde::{Deserialize, Serialize};

/// An observation or action space, with Gymnasium's meaning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Space {
    /// A box of `low.len()` reals; bounds may be infinite (written `"inf"`/`"-inf"` in JSON).
    Box {
        #[serde(with = "bounds")]
        low: Vec<f32>,
        #[serde(with = "bounds")]
        high: Vec<f32>,
    },
    /// One integer in `0..n`, passed as a single `f32` holding the index.
    Discrete { n: usize },
}

impl Space {
    /// Number of `f32` values one element of the space takes in a batch.
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Box { low, .. } => low.len(),
            Space::Discrete { .. } => 1,
        }
    }

    /// True for [`Space::Box`].
    pub fn is_continuous(&self) -> bool {
        matches!(self, Space::Box { .. })
    }
}

/// Everything a plugin needs to size its networks for an environment.
///
/// ```
/// use acgap_sdk::spec::{EnvSpec, Space};
/// let spec = EnvSpec {
///     id: "pendulum".into(),
///     observation: Space::Box { low: vec![-1.0; 3], high: vec![1.0; 3] },
///     action: Space::Box { low: vec![-2.0], high: vec![2.0] },
///     max_episode_steps: Some(200),
///     tabular: None,
/// };
/// assert_eq!(spec.obs_dim(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvSpec {
    /// The id the host knows the environment by (`pendulum`, `cartpole`, ...).
    pub id: String,
    pub observation: Space,
    pub action: Space,
    /// Time limit after which an episode is *truncated* (not terminated).
    pub max_episode_steps: Option<usize>,
    /// For tabular environments: the exact model (P, r, mu0, gamma), so that plugins and the
    /// host can compute exact quantities.
    pub tabular: Option<TabularModel>,
}

/// The exact model of a finite MDP. State-action pairs are indexed `sa = s * actions + a`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularModel {
    pub states: usize,
    pub actions: usize,
    pub gamma: f64,
    /// Start distribution over states.
    pub mu0: Vec<f64>,
    /// Expected reward of each state-action pair.
    pub reward: Vec<f64>,
    /// For each state-action pair, its next states with their probabilities (sparse rows of P).
    pub transitions: Vec<Vec<(usize, f64)>>,
}

impl TabularModel {
    /// Check sizes, probabilities (rows of P and mu0 sum to 1) and gamma in [0, 1).
    pub fn validate(&self) -> Result<(), String> {
        let (ns, sa) = (self.states, self.states * self.actions);
        if self.mu0.len() != ns || self.reward.len() != sa || self.transitions.len() != sa {
            return Err(format!(
                "tabular model: expected mu0 of {ns}, reward and transitions of {sa} entries"
            ));
        }
        if !(0.0..1.0).contains(&self.gamma) {
            return Err(format!(
                "tabular model: gamma {} is not in [0, 1)",
                self.gamma
            ));
        }
        let is_distribution = |xs: &mut dyn Iterator<Item = f64>| {
            let mut sum = 0.0;
            for x in xs {
                if x.is_nan() || x < 0.0 {
                    return false;
                }
                sum += x;
            }
            (sum - 1.0).abs() < 1e-9
        };
        if !is_distribution(&mut self.mu0.iter().copied()) {
            return Err("tabular model: mu0 is not a probability distribution".into());
        }
        for (i, row) in self.transitions.iter().enumerate() {
            if row.iter().any(|(s, _)| *s >= ns) || !is_distribution(&mut row.iter().map(|e| e.1)) {
                return Err(format!(
                    "tabular model: transition row of pair {i} is not a distribution over the {ns} states"
                ));
            }
        }
        Ok(())
    }
}

impl EnvSpec {
    pub fn obs_dim(&self) -> usize {
        self.observation.flat_dim()
    }
    pub fn act_dim(&self) -> usize {
        self.action.flat_dim()
    }
}

/// JSON has no infinity: box bounds are numbers, or the strings `"inf"` and `"-inf"`.
mod bounds {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Bound {
        Finite(f32),
        Named(String),
    }

    pub fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let b: Vec<Bound> = v
            .iter()
            .map(|&x| match x {
                f32::INFINITY => Bound::Named("inf".into()),
                f32::NEG_INFINITY => Bound::Named("-inf".into()),
                x => Bound::Finite(x),
            })
            .collect();
        b.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        Vec::<Bound>::deserialize(d)?
            .into_iter()
            .map(|b| match b {
                Bound::Finite(x) => Ok(x),
                Bound::Named(n) if n == "inf" => Ok(f32::INFINITY),
                Bound::Named(n) if n == "-inf" => Ok(f32::NEG_INFINITY),
                Bound::Named(n) => Err(serde::de::Error::custom(format!("bad bound {n:?}"))),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinite_bounds_survive_json() {
        let s = Space::Box {
            low: vec![-1.0, f32::NEG_INFINITY],
            high: vec![1.0, f32::INFINITY],
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Space>(&json).unwrap(), s);
    }
}
