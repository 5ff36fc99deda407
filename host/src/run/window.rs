//! Aggregation of update metrics over a logging window: the mean of each
//! metric, except names ending in `_max`, which keep the maximum (e.g. the
//! largest |TD error| seen, for Res-SAC's clip heuristic).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Window {
    sums: BTreeMap<String, f64>,
    counts: BTreeMap<String, u64>,
    maxes: BTreeMap<String, f64>,
    /// Wall time spent in this window (env steps and updates), for throughput.
    pub busy_secs: f64,
    updates_at_start: u64,
}

impl Window {
    pub fn add(&mut self, metrics: &[(String, f64)]) {
        for (k, v) in metrics {
            if k.ends_with("_max") {
                let m = self.maxes.entry(k.clone()).or_insert(f64::NEG_INFINITY);
                *m = m.max(*v);
            } else {
                *self.sums.entry(k.clone()).or_default() += v;
                *self.counts.entry(k.clone()).or_default() += 1;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sums.is_empty() && self.maxes.is_empty()
    }

    /// The window's metrics (sorted by name; timing under `time/`), and a fresh window.
    pub fn drain(&mut self, updates_now: u64) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .sums
            .iter()
            .map(|(k, s)| (k.clone(), s / self.counts[k] as f64))
            .collect();
        out.extend(self.maxes.iter().map(|(k, m)| (k.clone(), *m)));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        let updates = updates_now - self.updates_at_start;
        out.push(("updates".into(), updates as f64));
        let secs = self.busy_secs.max(1e-9);
        out.push(("time/updates_per_s".into(), updates as f64 / secs));
        *self = Window {
            updates_at_start: updates_now,
            ..Default::default()
        };
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mean_and_max() {
        let mut w = super::Window::default();
        w.add(&[("loss".into(), 1.0), ("td_abs_max".into(), 3.0)]);
        w.add(&[("loss".into(), 3.0), ("td_abs_max".into(), 2.0)]);
        let m = w.drain(2);
        assert!(m.contains(&("loss".into(), 2.0)));
        assert!(m.contains(&("td_abs_max".into(), 3.0)));
        assert!(m.contains(&("updates".into(), 2.0)));
        assert!(w.drain(2).contains(&("updates".into(), 0.0)));
    }
}
