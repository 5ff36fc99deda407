//! The replay buffer: a ring of columnar `f32` transitions with uniform sampling.
//! `terminated` and `truncated` are stored separately: a time-limit truncation
//! bootstraps, a termination does not.

use acgap_sdk::batch::OwnedBatch;
use acgap_sdk::{Batch, BatchKind};
use rand::Rng;

/// The columns of stored transitions: the SDK's owned batch, grown row by row.
type Columns = OwnedBatch;

/// Widths of the six columns for a row.
fn widths(obs_dim: usize, act_dim: usize) -> [usize; 6] {
    [obs_dim, act_dim, 1, obs_dim, 1, 1]
}

/// Append row `i` of `from` (whose rows have the given widths) to `to`.
fn push_row_of(to: &mut Columns, from: &Columns, i: usize, widths: [usize; 6]) {
    for ((to, from), w) in to.columns_mut().into_iter().zip(from.columns()).zip(widths) {
        to.extend_from_slice(&from[i * w..(i + 1) * w]);
    }
}

pub struct ReplayBuffer {
    capacity: usize,
    obs_dim: usize,
    act_dim: usize,
    /// Next slot to write; `len` counts filled slots.
    head: usize,
    len: usize,
    data: Columns,
}

/// Reused storage for one sampled minibatch (no allocation per update).
#[derive(Default)]
pub struct Minibatch(Columns);

impl Minibatch {
    pub fn view(&self) -> Batch<'_> {
        self.0.view()
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
            data: Columns::default(),
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
        let row: [&[f32]; 6] = [
            obs,
            action,
            &[reward],
            next_obs,
            &[terminated as u8 as f32],
            &[truncated as u8 as f32],
        ];
        let i = self.head;
        if i == self.data.len() {
            for (col, v) in self.data.columns_mut().into_iter().zip(row) {
                col.extend_from_slice(v);
            }
        } else {
            for (col, v) in self.data.columns_mut().into_iter().zip(row) {
                col[i * v.len()..(i + 1) * v.len()].copy_from_slice(v);
            }
        }
        self.head = (i + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
    }

    /// Fill `out` with `n` transitions drawn uniformly with replacement.
    pub fn sample(&self, n: usize, rng: &mut impl Rng, out: &mut Minibatch) {
        let widths = widths(self.obs_dim, self.act_dim);
        out.0.columns_mut().into_iter().for_each(Vec::clear);
        for _ in 0..n {
            push_row_of(
                &mut out.0,
                &self.data,
                rng.random_range(0..self.len),
                widths,
            );
        }
    }

    /// Append another (never wrapped) buffer's transitions in order: the env-major
    /// rollout of several parallel envs.
    pub fn append(&mut self, other: &ReplayBuffer) {
        let b = other.in_order(BatchKind::Rollout);
        let (od, ad) = (self.obs_dim, self.act_dim);
        for i in 0..b.len {
            self.push(
                &b.obs[i * od..(i + 1) * od],
                &b.action[i * ad..(i + 1) * ad],
                b.reward[i],
                &b.next_obs[i * od..(i + 1) * od],
                b.terminated[i] > 0.5,
                b.truncated[i] > 0.5,
            );
        }
    }

    /// The stored transitions in insertion order (for on-policy rollouts, which never wrap).
    pub fn in_order(&self, kind: BatchKind) -> Batch<'_> {
        self.data.view_as(kind)
    }

    /// Little-endian binary image for checkpoints (header as JSON, then the columns).
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::json!({
            "capacity": self.capacity, "obs_dim": self.obs_dim, "act_dim": self.act_dim,
            "head": self.head, "len": self.len, "rows": self.data.len(),
        })
        .to_string();
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        for col in self.data.columns() {
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
        let (obs_dim, act_dim, rows) = (get("obs_dim")?, get("act_dim")?, get("rows")?);
        let mut floats = bytes[8 + hlen..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut data = Columns::default();
        for (col, w) in data.columns_mut().into_iter().zip(widths(obs_dim, act_dim)) {
            col.extend(floats.by_ref().take(rows * w));
            if col.len() != rows * w {
                return Err(bad());
            }
        }
        let (capacity, head, len) = (get("capacity")?, get("head")?, get("len")?);
        // The invariants `push` and `sample` rely on: `rows` stored transitions, `len` of them
        // valid, the next write at `head` (appending while the buffer is not yet full).
        let consistent = capacity > 0
            && len == rows
            && len <= capacity
            && head < capacity
            && (if len < capacity { head == len } else { true });
        if !consistent {
            return Err(format!(
                "replay buffer checkpoint is inconsistent (capacity {capacity}, head {head}, len {len}, rows {rows})"
            ));
        }
        Ok(Self {
            capacity,
            obs_dim,
            act_dim,
            head,
            len,
            data,
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
        assert_eq!(b.data.reward, vec![3.0, 4.0, 2.0]);
        assert_eq!(b.data.terminated, vec![1.0, 0.0, 0.0]);
        assert_eq!(b.data.truncated, vec![0.0, 1.0, 0.0]);
        let mut mb = Minibatch::default();
        b.sample(64, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), &mut mb);
        let v = mb.view();
        assert_eq!(v.len, 64);
        assert!(v.reward.iter().all(|r| [2.0, 3.0, 4.0].contains(r)));
        assert!(v.obs.iter().zip(v.reward).all(|(o, r)| o == r));
        assert!(v.next_obs.iter().zip(v.reward).all(|(o, r)| *o == r + 1.0));
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
