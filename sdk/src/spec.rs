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
    /// For tabular environments with an exact model: the state and action counts.
    pub tabular: Option<TabularSize>,
}

/// State and action counts of a tabular environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabularSize {
    pub states: usize,
    pub actions: usize,
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
