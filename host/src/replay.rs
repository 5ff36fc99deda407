//! The replay buffer: a ring of columnar `f32` transitions with uniform sampling.
//! `terminated` and `truncated` are stored separately: a time-limit truncation
//! bootstraps, a termination does not.

use acgap_sdk::{Batch, BatchKind};
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct ReplayBuffer {
    capacity: usize,
    obs_dim: usize,
    act_dim: usize,
    /// Next slot to write; `len` counts filled slots.
    head: usize,
    len: usize,
    obs: Vec<f32>,
    action: Vec<f32>,
    reward: Vec<f32>,
    next_obs: Vec<f32>,
    terminated: Vec<f32>,
    truncated: Vec<f32>,
}

/// Reused storage for one sampled minibatch (no allocation per update).
#[derive(Default)]
pub struct Minibatch {
    obs: Vec<f32>,
    action: Vec<f32>,
    reward: Vec<f32>,
    next_obs: Vec<f32>,
    terminated: Vec<f32>,
    truncated: Vec<f32>,
    len: usize,
}

impl Minibatch {
    pub fn view(&self) -> Batch<'_> {
        Batch {
            kind: BatchKind::Minibatch,
            len: self.len,
            obs: &self.obs,
            action: &self.action,
            reward: &self.reward,
            next_obs: &self.next_obs,
            terminated: &self.terminated,
            truncated: &self.truncated,
        }
    }
}

impl ReplayBuffer {
    /// Columns grow as transitions arrive (up to `capacity`), so a 1M-transition
    /// buffer costs memory only for what a run stores.
    pub fn new(capacity: usize, obs_dim: usize, act_dim: usize) -> Self {
        Self {
            capacity,
            obs_dim,
            act_dim,
            head: 0,
            len: 0,
            obs: Vec::new(),
            action: Vec::new(),
            reward: Vec::new(),
            next_obs: Vec::new(),
            terminated: Vec::new(),
            truncated: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn push(
        &mut self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        next_obs: &[f32],
        terminated: bool,
        truncated: bool,
    ) {
        let (od, ad, i) = (self.obs_dim, self.act_dim, self.head);
        if self.len < self.capacity && i == self.reward.len() {
            self.obs.extend_from_slice(obs);
            self.action.extend_from_slice(action);
            self.reward.push(reward);
            self.next_obs.extend_from_slice(next_obs);
            self.terminated.push(terminated as u8 as f32);
            self.truncated.push(truncated as u8 as f32);
        } else {
            self.obs[i * od..(i + 1) * od].copy_from_slice(obs);
            self.action[i * ad..(i + 1) * ad].copy_from_slice(action);
            self.reward[i] = reward;
            self.next_obs[i * od..(i + 1) * od].copy_from_slice(next_obs);
            self.terminated[i] = terminated as u8 as f32;
            self.truncated[i] = truncated as u8 as f32;
        }
        self.head = (i + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
    }

    /// Fill `out` with `n` transitions drawn uniformly with replacement.
    pub fn sample(&self, n: usize, rng: &mut impl Rng, out: &mut Minibatch) {
        let (od, ad) = (self.obs_dim, self.act_dim);
        for v in [
            &mut out.obs,
            &mut out.action,
            &mut out.reward,
            &mut out.next_obs,
            &mut out.terminated,
            &mut out.truncated,
        ] {
            v.clear();
        }
        for _ in 0..n {
            let i = rng.random_range(0..self.len);
            out.obs.extend_from_slice(&self.obs[i * od..(i + 1) * od]);
            out.action
                .extend_from_slice(&self.action[i * ad..(i + 1) * ad]);
            out.reward.push(self.reward[i]);
            out.next_obs
                .extend_from_slice(&self.next_obs[i * od..(i + 1) * od]);
            out.terminated.push(self.terminated[i]);
            out.truncated.push(self.truncated[i]);
        }
        out.len = n;
    }

    /// The stored transitions in insertion order (for on-policy rollouts, which never wrap).
    pub fn in_order(&self, kind: BatchKind) -> Batch<'_> {
        Batch {
            kind,
            len: self.reward.len(),
            obs: &self.obs,
            action: &self.action,
            reward: &self.reward,
            next_obs: &self.next_obs,
            terminated: &self.terminated,
            truncated: &self.truncated,
        }
    }

    /// Little-endian binary image for checkpoints (header as JSON, then the columns).
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::json!({
            "capacity": self.capacity, "obs_dim": self.obs_dim, "act_dim": self.act_dim,
            "head": self.head, "len": self.len, "rows": self.reward.len(),
        })
        .to_string();
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        for col in [
            &self.obs,
            &self.action,
            &self.reward,
            &self.next_obs,
            &self.terminated,
            &self.truncated,
        ] {
            out.extend(col.iter().flat_map(|x| x.to_le_bytes()));
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let bad = || "replay buffer checkpoint is corrupt".to_string();
        let hlen = u64::from_le_bytes(bytes.get(..8).ok_or_else(bad)?.try_into().unwrap()) as usize;
        let header: serde_json::Value =
            serde_json::from_slice(bytes.get(8..8 + hlen).ok_or_else(bad)?).map_err(|_| bad())?;
        let get = |k: &str| header[k].as_u64().map(|v| v as usize).ok_or_else(bad);
        let (capacity, od, ad, rows) = (
            get("capacity")?,
            get("obs_dim")?,
            get("act_dim")?,
            get("rows")?,
        );
        let mut floats = bytes[8 + hlen..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut take = |n: usize| -> Result<Vec<f32>, String> {
            let v: Vec<f32> = floats.by_ref().take(n).collect();
            if v.len() == n { Ok(v) } else { Err(bad()) }
        };
        Ok(Self {
            capacity,
            obs_dim: od,
            act_dim: ad,
            head: get("head")?,
            len: get("len")?,
            obs: take(rows * od)?,
            action: take(rows * ad)?,
            reward: take(rows)?,
            next_obs: take(rows * od)?,
            terminated: take(rows)?,
            truncated: take(rows)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ring_overwrites_oldest_and_keeps_flags_apart() {
        let mut b = ReplayBuffer::new(3, 1, 1);
        for i in 0..5 {
            b.push(
                &[i as f32],
                &[0.0],
                i as f32,
                &[i as f32 + 1.0],
                i == 3,
                i == 4,
            );
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.reward, vec![3.0, 4.0, 2.0]);
        assert_eq!(b.terminated, vec![1.0, 0.0, 0.0]);
        assert_eq!(b.truncated, vec![0.0, 1.0, 0.0]);
        let mut mb = Minibatch::default();
        b.sample(64, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), &mut mb);
        assert!(mb.reward.iter().all(|r| [2.0, 3.0, 4.0].contains(r)));
        assert!(
            mb.view()
                .obs
                .iter()
                .zip(mb.reward.iter())
                .all(|(o, r)| o == r)
        );
    }

    #[test]
    fn bytes_round_trip() {
        let mut b = ReplayBuffer::new(10, 2, 1);
        for i in 0..4 {
            b.push(&[i as f32, 1.0], &[0.5], 1.0, &[0.0, 0.0], false, i == 2);
        }
        let c = ReplayBuffer::from_bytes(&b.to_bytes()).unwrap();
        assert_eq!(c.to_bytes(), b.to_bytes());
        assert!(ReplayBuffer::from_bytes(&[1, 2, 3]).is_err());
    }
}
