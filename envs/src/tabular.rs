//! Tabular environments with an exact model: [`TabularEnv`] samples transitions from a
//! [`TabularModel`] (the same P, r, mu0 the exact DP code uses, so samples and truth agree by
//! construction), with Gymnasium semantics (no termination; truncation at the time limit).
//! Models: [`fourroom`] (Sutton, Precup & Singh's four rooms) and [`random_mdp`] (Garnet).
//!
//! Ids take options after a colon: `fourroom:slip=0.1,goal=[11,11],layout=rooms.txt`,
//! `random-mdp:states=20,actions=4,branching=3,seed=1,gamma=0.9`.

use crate::{Env, EnvSpec, Space, Step, TabularModel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A finite MDP driven by sampling its model. The observation is the state index.
#[derive(Clone)]
pub struct TabularEnv {
    spec: EnvSpec,
    model: Arc<TabularModel>,
    state: TabularState,
}

#[derive(Clone, Serialize, Deserialize)]
struct TabularState {
    s: usize,
    steps: usize,
    rng: ChaCha8Rng,
}

impl TabularEnv {
    pub fn new(id: &str, model: TabularModel, episode_steps: usize, seed: u64) -> Self {
        let spec = EnvSpec {
            id: id.to_string(),
            observation: Space::Discrete { n: model.states },
            action: Space::Discrete { n: model.actions },
            max_episode_steps: Some(episode_steps),
            tabular: Some(model.clone()),
        };
        Self {
            spec,
            model: Arc::new(model),
            state: TabularState {
                s: 0,
                steps: 0,
                rng: ChaCha8Rng::seed_from_u64(seed),
            },
        }
    }

    /// The state the agent is in.
    pub fn state(&self) -> usize {
        self.state.s
    }

    fn draw(rng: &mut ChaCha8Rng, dist: impl Iterator<Item = (usize, f64)>) -> usize {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut last = 0;
        for (s, p) in dist {
            acc += p;
            last = s;
            if u < acc {
                return s;
            }
        }
        last // rounding: the cumulative sum may end just below 1
    }
}

impl Env for TabularEnv {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self) -> Vec<f32> {
        let st = &mut self.state;
        st.steps = 0;
        st.s = Self::draw(&mut st.rng, self.model.mu0.iter().copied().enumerate());
        vec![st.s as f32]
    }

    /// The reward is the pair's expected reward `r(s, a)` (for FourRoom without slip it is
    /// exactly the 0/1 reward of the move, so samples and the model agree).
    fn step(&mut self, action: &[f32]) -> Step {
        let m = &self.model;
        let a = (action[0].max(0.0) as usize).min(m.actions - 1);
        let st = &mut self.state;
        let sa = st.s * m.actions + a;
        let reward = m.reward[sa];
        st.s = Self::draw(&mut st.rng, m.transitions[sa].iter().copied());
        st.steps += 1;
        Step {
            obs: vec![st.s as f32],
            reward,
            terminated: false,
            truncated: self.spec.max_episode_steps.is_some_and(|l| st.steps >= l),
        }
    }

    fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({ "env": self.spec.id, "state": self.state })
    }

    fn restore(&mut self, snapshot: &serde_json::Value) -> Result<crate::Restored, String> {
        let id = snapshot.get("env").and_then(|v| v.as_str()).unwrap_or("?");
        if id != self.spec.id {
            return Err(format!(
                "snapshot is of environment `{id}`, not `{}`",
                self.spec.id
            ));
        }
        self.state = serde_json::from_value(snapshot["state"].clone())
            .map_err(|e| format!("corrupt `{id}` snapshot: {e}"))?;
        Ok(crate::Restored::Exact)
    }

    fn clone_env(&self) -> Box<dyn Env> {
        Box::new(self.clone())
    }
}

/// Sutton, Precup & Singh (1999)'s four rooms: `#` wall, `.` free (104 free cells).
pub const FOUR_ROOMS: &str = "\
#############
#.....#.....#
#.....#.....#
#...........#
#.....#.....#
#.....#.....#
##.####.....#
#.....###.###
#.....#.....#
#.....#.....#
#...........#
#.....#.....#
#############";

/// FourRoom options.
#[derive(Clone, Debug, PartialEq)]
pub struct FourRoom {
    pub layout: String,
    /// (row, column) of the goal; must be a free cell.
    pub goal: (usize, usize),
    /// Probability that a move goes in a uniformly random direction instead.
    pub slip: f64,
    pub gamma: f64,
}

impl Default for FourRoom {
    /// The paper's setting (appendix D.1): gamma 0.9; the goal is not given in the paper's
    /// text, we put it in the bottom-right room's far corner.
    fn default() -> Self {
        Self {
            layout: FOUR_ROOMS.into(),
            goal: (11, 11),
            slip: 0.0,
            gamma: 0.9,
        }
    }
}

/// Moves: up, right, down, left.
const MOVES: [(isize, isize); 4] = [(-1, 0), (0, 1), (1, 0), (0, -1)];

/// The exact model of a four-room layout: states are the free cells in reading order; a move
/// into a wall stays; entering the goal pays 1 and the next state is drawn from mu0 (uniform
/// over free cells), as in the paper (no termination, 300-step episodes).
pub fn fourroom(opts: &FourRoom) -> Result<TabularModel, String> {
    let grid: Vec<Vec<bool>> = opts
        .layout
        .lines()
        .map(|l| l.trim_end().chars().map(|c| c != '#').collect())
        .filter(|row: &Vec<bool>| !row.is_empty())
        .collect();
    let mut index = std::collections::HashMap::new();
    for (r, row) in grid.iter().enumerate() {
        for (c, free) in row.iter().enumerate() {
            if *free {
                index.insert((r, c), index.len());
            }
        }
    }
    let ns = index.len();
    if ns == 0 {
        return Err("fourroom: the layout has no free cell".into());
    }
    let goal = *index.get(&opts.goal).ok_or_else(|| {
        format!(
            "fourroom: goal {:?} is not a free cell of the layout",
            opts.goal
        )
    })?;
    if !(0.0..=1.0).contains(&opts.slip) {
        return Err(format!("fourroom: slip {} is not in [0, 1]", opts.slip));
    }
    let mu0 = vec![1.0 / ns as f64; ns];
    let mut cells: Vec<(usize, usize)> = vec![(0, 0); ns];
    for (&cell, &i) in &index {
        cells[i] = cell;
    }
    let target = |cell: (usize, usize), m: usize| -> usize {
        let (r, c) = (cell.0 as isize + MOVES[m].0, cell.1 as isize + MOVES[m].1);
        if r < 0 || c < 0 {
            return index[&cell];
        }
        *index
            .get(&(r as usize, c as usize))
            .unwrap_or(&index[&cell])
    };
    let mut reward = Vec::with_capacity(ns * 4);
    let mut transitions = Vec::with_capacity(ns * 4);
    for &cell in &cells {
        for a in 0..4 {
            // Intended move with 1 - slip, each of the 4 moves with slip / 4.
            let mut moves = [opts.slip / 4.0; 4];
            moves[a] += 1.0 - opts.slip;
            let mut row: Vec<(usize, f64)> = Vec::new();
            let mut r = 0.0;
            for (m, p) in moves.iter().enumerate() {
                if *p == 0.0 {
                    continue;
                }
                let next = target(cell, m);
                if next == goal && next != index[&cell] {
                    r += p;
                    row.extend(mu0.iter().enumerate().map(|(s, q)| (s, p * q)));
                } else {
                    row.push((next, *p));
                }
            }
            reward.push(r);
            transitions.push(merge(row));
        }
    }
    Ok(TabularModel {
        states: ns,
        actions: 4,
        gamma: opts.gamma,
        mu0,
        reward,
        transitions,
    })
}

/// Sum the probabilities of repeated next states.
fn merge(mut row: Vec<(usize, f64)>) -> Vec<(usize, f64)> {
    row.sort_by_key(|e| e.0);
    let mut out: Vec<(usize, f64)> = Vec::new();
    for (s, p) in row {
        match out.last_mut() {
            Some(last) if last.0 == s => last.1 += p,
            _ => out.push((s, p)),
        }
    }
    out
}

/// A Garnet MDP (Archibald et al. 1995): each pair reaches `branching` distinct random next
/// states with random probabilities; rewards uniform in [0, 1); mu0 uniform.
pub fn random_mdp(
    states: usize,
    actions: usize,
    branching: usize,
    gamma: f64,
    seed: u64,
) -> Result<TabularModel, String> {
    if states == 0 || actions == 0 || branching == 0 || branching > states {
        return Err(format!(
            "random-mdp: need states >= 1, actions >= 1 and 1 <= branching <= states (got {states}, {actions}, {branching})"
        ));
    }
    // The exact model is evaluated densely (the host's exact diagnostics): refuse sizes whose
    // |S|A x |S| transition matrix cannot fit, before generating anything.
    let (s, a) = (states as f64, actions as f64);
    acgap_sdk::memory::check(
        &format!("random-mdp with {states} states and {actions} actions (its dense exact model)"),
        8.0 * (s * a * s + 4.0 * s * s),
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let transitions = (0..states * actions)
        .map(|_| {
            let mut next: Vec<usize> = Vec::with_capacity(branching);
            while next.len() < branching {
                let s = rng.random_range(0..states);
                if !next.contains(&s) {
                    next.push(s);
                }
            }
            let w: Vec<f64> = next.iter().map(|_| rng.random_range(0.05..1.0)).collect();
            let total: f64 = w.iter().sum();
            merge(next.into_iter().zip(w.iter().map(|x| x / total)).collect())
        })
        .collect();
    let reward = (0..states * actions).map(|_| rng.random()).collect();
    Ok(TabularModel {
        states,
        actions,
        gamma,
        mu0: vec![1.0 / states as f64; states],
        reward,
        transitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_rooms_has_104_cells_and_a_valid_model() {
        let m = fourroom(&FourRoom::default()).unwrap();
        assert_eq!((m.states, m.actions), (104, 4));
        m.validate().unwrap();
        // Only moves into the goal pay, each exactly 1 without slip.
        let paying: Vec<f64> = m.reward.iter().copied().filter(|r| *r > 0.0).collect();
        assert!(!paying.is_empty() && paying.iter().all(|r| *r == 1.0));
        let slippery = fourroom(&FourRoom {
            slip: 0.2,
            ..FourRoom::default()
        })
        .unwrap();
        slippery.validate().unwrap();
        assert!(slippery.reward.iter().any(|r| *r > 0.0 && *r < 1.0));
        assert!(
            fourroom(&FourRoom {
                goal: (0, 0),
                ..FourRoom::default()
            })
            .is_err()
        );
    }

    #[test]
    fn samples_follow_the_model() {
        let m = random_mdp(5, 2, 3, 0.9, 3).unwrap();
        let mut env = TabularEnv::new("random-mdp", m.clone(), 1_000_000, 1);
        env.reset();
        let mut counts = vec![vec![0usize; 5]; 10];
        let n = 200_000;
        for i in 0..n {
            let (s, a) = (env.state(), i % 2);
            let step = env.step(&[a as f32]);
            assert_eq!(step.reward, m.reward[s * 2 + a]);
            counts[s * 2 + a][step.obs[0] as usize] += 1;
        }
        for (sa, row) in counts.iter().enumerate() {
            let total: usize = row.iter().sum();
            for &(s, p) in &m.transitions[sa] {
                let freq = row[s] as f64 / total as f64;
                // 5 standard errors of a binomial proportion.
                let tol = 5.0 * (p * (1.0 - p) / total as f64).sqrt() + 1e-9;
                assert!((freq - p).abs() < tol, "pair {sa} -> {s}: {freq} vs {p}");
            }
        }
    }
}
