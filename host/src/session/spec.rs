//! What a comparison session is: plugins (each with its own overrides), seeds and the
//! shared run settings — from the command line or a session file — and the planned
//! (plugin, seed) grid that `session.json` records.

use crate::output::folder::sanitize;
use crate::run::spec::RunSpec;
use crate::run::spec::{Entry, RunSettings};
use serde::{Deserialize, Serialize};

/// The most runs one session plans (each is a folder and a row of the report).
const MAX_RUNS: u64 = 100_000;

/// A session file (`host session FILE`), or what several `--plugin` flags say.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// Names the session folder `<runs>/sessions/<name>-<timestamp>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub plugins: Vec<Entry>,
    /// Number of seeds per plugin.
    pub seeds: u64,
    /// The first seed (seed indices are `seed .. seed + seeds`).
    #[serde(default)]
    pub seed: u64,
    /// Eval return whose first crossing the report counts steps to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub settings: RunSettings,
    /// Several tasks (env ids): the grid runs every plugin on each, and the report adds
    /// normalised aggregates across them (`session::tasks`). Empty: `settings.env` alone.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "non_empty_envs"
    )]
    pub envs: Vec<String>,
}

/// `"envs": []` is refused rather than read as "no list" (which runs `settings.env`, by
/// default Pendulum, where the user asked for no task at all).
fn non_empty_envs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let envs = <Vec<String> as serde::Deserialize>::deserialize(d)?;
    if envs.is_empty() {
        return Err(serde::de::Error::custom(
            "`envs` is empty: list at least one env id, or leave `envs` out to use `settings.env`",
        ));
    }
    Ok(envs)
}

/// `session.json`: the spec and every planned run with its resolved config, so that a
/// resume or a shard on another machine runs exactly the same grid.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub spec: SessionSpec,
    pub runs: Vec<PlannedRun>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlannedRun {
    pub label: String,
    pub seed: u64,
    /// Relative to the session directory: `<label>/seed-<seed>`.
    pub dir: String,
    pub spec: RunSpec,
    /// The swept values this run takes (`session::sweep`), empty outside a sweep.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sweep: super::sweep::Point,
    /// The task of a multi-task session (its env id); the label ends with `@task`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

impl SessionSpec {
    pub fn read(path: &std::path::Path) -> Result<Self, String> {
        let text = crate::plugins::read_user_file("session file", path)?;
        crate::plugins::unique_keys(&text)
            .map_err(|e| format!("session file `{}`: {e}", path.display()))?;
        let spec: Self = serde_json::from_str(&text)
            .map_err(|e| format!("session file `{}`: {e}", path.display()))?;
        spec.check()
            .map_err(|e| format!("session file `{}`: {e}", path.display()))?;
        Ok(spec)
    }

    pub fn check(&self) -> Result<(), String> {
        if self.plugins.is_empty() {
            return Err("a session needs at least one plugin".into());
        }
        if self.seeds == 0 {
            return Err("`seeds` must be at least 1".into());
        }
        if self.seed.checked_add(self.seeds - 1).is_none() {
            return Err(format!(
                "{} seeds from seed {} pass the largest seed, {}: use a smaller `seed`",
                self.seeds,
                self.seed,
                u64::MAX
            ));
        }
        if let Some(name) = &self.name {
            crate::output::folder::check_name("session name", name)?;
        }
        let runs = self.seeds.saturating_mul(self.plugins.len() as u64);
        if runs > MAX_RUNS {
            return Err(format!(
                "{} seeds x {} plugins = {runs} runs; a session holds at most {MAX_RUNS} (split it with `--shard`, or into several sessions)",
                self.seeds,
                self.plugins.len()
            ));
        }
        self.settings.check()?;
        Ok(())
    }

    /// Resolve every entry's config (plugins are opened and their overrides checked now,
    /// before any run starts) and lay out the grid: seed-major, so that an interrupted or
    /// sharded session has every plugin at the same seeds.
    pub fn plan(&self) -> Result<Session, String> {
        self.check()?;
        let (entries, points): (Vec<Entry>, Vec<super::sweep::Point>) =
            super::sweep::expand(&self.plugins)?.into_iter().unzip();
        let tasks: Vec<Option<String>> = if self.envs.len() > 1 {
            self.envs.iter().cloned().map(Some).collect()
        } else {
            vec![None]
        };
        let runs = self
            .seeds
            .saturating_mul(entries.len() as u64)
            .saturating_mul(tasks.len() as u64);
        if runs > MAX_RUNS {
            return Err(format!(
                "{} configurations x {} tasks x {} seeds = {runs} runs; a session holds at most {MAX_RUNS}",
                entries.len(),
                tasks.len(),
                self.seeds
            ));
        }
        // Per task: every entry resolved against that env, and labelled (`label@task`).
        let mut grid: Vec<(Option<String>, Vec<Cell>)> = Vec::new();
        for task in &tasks {
            let settings = RunSettings {
                env: task
                    .clone()
                    .or_else(|| self.envs.first().cloned())
                    .unwrap_or_else(|| self.settings.env.clone()),
                ..self.settings.clone()
            };
            let templates = entries
                .iter()
                .map(|e| crate::run::spec::resolve_entry(e, &settings, self.seed))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| match task {
                    Some(t) => format!("task `{t}`: {e}"),
                    None => e,
                })?;
            let labels = labels(&entries, &templates, &points)?;
            let cells = labels
                .into_iter()
                .zip(templates)
                .zip(points.iter().cloned())
                .map(|((label, spec), point)| {
                    let label = match task {
                        Some(t) => format!("{label}@{}", sanitize(t)),
                        None => label,
                    };
                    (label, spec, point)
                })
                .collect();
            grid.push((task.clone(), cells));
        }
        let mut runs = Vec::new();
        // Inclusive, so that a range ending at u64::MAX does not overflow (checked above).
        for seed in self.seed..=self.seed + (self.seeds - 1) {
            for (task, cells) in &grid {
                for (label, template, point) in cells {
                    runs.push(PlannedRun {
                        label: label.clone(),
                        seed,
                        dir: format!("{label}/seed-{seed}"),
                        spec: RunSpec {
                            seed,
                            ..template.clone()
                        },
                        sweep: point.clone(),
                        task: task.clone(),
                    });
                }
            }
        }
        Ok(Session {
            spec: self.clone(),
            runs,
        })
    }
}

impl Session {
    /// This session grown to `seeds` seeds: its runs unchanged and first, then the new seeds'
    /// runs, each a copy of the first seed's run of its row with only the seed changed (not
    /// re-resolved from the plugins, whose defaults may have moved since the session began), so
    /// the grown grid is the one `plan` gives for `seeds` and the report treats every seed alike.
    pub fn with_seeds(&self, seeds: u64) -> Result<Session, String> {
        let have = self.spec.seeds;
        if seeds < have {
            return Err(format!(
                "`--seeds {seeds}` is fewer than the {have} this session has; a session only grows \
                 (its runs are kept), so ask for at least {have}"
            ));
        }
        let spec = SessionSpec {
            seeds,
            ..self.spec.clone()
        };
        spec.check()?;
        let rows: Vec<&PlannedRun> = (self.runs.iter())
            .filter(|r| r.seed == self.spec.seed)
            .collect();
        let total = (rows.len() as u64).saturating_mul(seeds);
        if total > MAX_RUNS {
            return Err(format!(
                "{} rows x {seeds} seeds = {total} runs; a session holds at most {MAX_RUNS}",
                rows.len()
            ));
        }
        let mut runs = self.runs.clone();
        for seed in self.spec.seed + have..=self.spec.seed + (seeds - 1) {
            runs.extend(rows.iter().map(|r| PlannedRun {
                seed,
                dir: format!("{}/seed-{seed}", r.label),
                spec: RunSpec {
                    seed,
                    ..r.spec.clone()
                },
                ..(*r).clone()
            }));
        }
        Ok(Session { spec, runs })
    }
}

/// One configuration of the grid on one task: its label, run spec and swept point.
type Cell = (String, RunSpec, super::sweep::Point);

/// Report labels: the explicit `label`, else the agent's name (`+correction`), then a sweep's
/// values (`ressac+residual clip=1`); two entries that would share a label are told apart by
/// what was typed, and refused if identical.
fn labels(
    entries: &[Entry],
    specs: &[RunSpec],
    points: &[super::sweep::Point],
) -> Result<Vec<String>, String> {
    let base: Vec<String> = entries
        .iter()
        .zip(specs)
        .zip(points)
        .map(|((e, s), point)| {
            let name = match (&e.label, &s.correction) {
                (Some(l), _) => l.clone(),
                (None, Some(c)) => format!("{}+{}", s.agent, c.name),
                (None, None) => s.agent.clone(),
            };
            if point.is_empty() {
                name
            } else {
                format!("{name} {}", super::sweep::describe(point))
            }
        })
        .collect();
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let clash = base.iter().filter(|b| **b == base[i]).count() > 1;
        let label = if clash && e.label.is_none() && !e.typed.is_empty() {
            e.typed.clone()
        } else {
            base[i].clone()
        };
        let label = sanitize(&label);
        crate::output::folder::check_name("label", &label)?;
        out.push(label);
    }
    for (i, l) in out.iter().enumerate() {
        if out[..i].contains(l) {
            return Err(format!(
                "two plugins of the session are both called `{l}`; give them different overrides or names with `label=...` (e.g. `--plugin sac:schedule=10-0,label=SAC-10-0`)"
            ));
        }
    }
    Ok(out)
}

/// `--shard i/n`: 0-based slice i of n.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`--shard {s}`: expected I/N with 0 <= I < N, e.g. `--shard 0/4`");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Slice `index` takes every `count`-th run of the grid, starting at `index`.
    pub fn takes(&self, run_index: usize) -> bool {
        run_index % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_grid() {
        assert!(Shard::parse("3/2").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("x").is_err());
        let shards: Vec<Shard> = (0..3)
            .map(|i| Shard::parse(&format!("{i}/3")).unwrap())
            .collect();
        for run in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.takes(run)).count(), 1);
        }
    }

    #[test]
    fn clashing_labels_use_what_was_typed_and_identical_entries_are_refused() {
        let spec = |agent: &str| RunSpec::for_tests(agent);
        let a = Entry::parse("sac").unwrap();
        let b = Entry::parse("sac:schedule=10-0").unwrap();
        let none = [Vec::new(), Vec::new()];
        let got = labels(&[a.clone(), b], &[spec("sac"), spec("sac")], &none).unwrap();
        assert_eq!(got, ["sac", "sac:schedule=10-0"]);
        let err = labels(&[a.clone(), a], &[spec("sac"), spec("sac")], &none).unwrap_err();
        assert!(err.contains("both called `sac`"), "{err}");
    }
}
