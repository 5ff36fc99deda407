//! `host score`: any tabular gap estimator against the exact truth (docs/scorecard.md).
//!
//! On each MDP of a suite (`suite`), at (policy, critic) points, the same batches — one
//! on-policy episode each, drawn as training draws them — go to every row: a base actor
//! alone (the plain actor-critic rows, always present) or with an estimator (`estimators`).
//! Each row's batch directions are scored against the exact policy gradient (`stats`), and
//! the scorecard is written as Markdown, CSV and a bias-variance plot (`card`).

mod card;
pub mod continuous;
pub mod estimators;
mod stats;
pub mod suite;

use acgap_exact::Exact;
use acgap_sdk::Term;
use acgap_sdk::tabular::{Base, TabularCorrection, Transition, softmax_table};
use estimators::Row;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use stats::Scores;
use std::path::{Path, PathBuf};
use suite::{Point, Task};

/// `host score`'s arguments.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// Rows `[agc+|aoc+]ESTIMATOR[:key=value,...]`: a tabular correction as for
    /// `--correction` (`res-ac`, `libmine.so`, `libmine.so@name`) with config overrides, or
    /// a model-based reference: `oracle`, `exact-stackelberg`, `exact-stackelberg-semi`,
    /// `exact-stackelberg-visible`. None: every estimator acgap ships. Plain AgC and AoC are
    /// always rows. On `--suite pendulum`: `ESTIMATOR[:key=value,...]`, a SAC-family correction
    /// (`residual`, `stackelberg`, `libmine.so@name`) or `oracle`; plain SAC is always a row.
    pub estimators: Vec<String>,
    /// `default` (Garnet 10x3 and 40x4, FourRoom, FourRoom with slip 0.2) or `quick`: tabular
    /// estimators against the exact gradient. `pendulum`: SAC-family estimators (`residual`,
    /// `stackelberg`, `libmine.so@name`, `oracle`) against a Monte-Carlo truth on Pendulum.
    #[arg(long, default_value = "default")]
    pub suite: String,
    /// Scored batches per point (default: 2000 tabular, 24 on `pendulum`).
    #[arg(long, value_parser = crate::bounded::count::<2, MAX_BATCHES, usize>)]
    pub batches: Option<usize>,
    /// Batches each estimator trains on at a point before it is scored (default: 100
    /// tabular, 1000 correction steps on `pendulum`).
    #[arg(long, value_parser = crate::bounded::count::<0, MAX_BATCHES, usize>)]
    pub warmup: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `pendulum`: the env steps at which each SAC run is scored (early, middle and late in
    /// learning by default; SAC solves Pendulum in about 5,000), in increasing order.
    #[arg(long, value_delimiter = ',', default_value = "2000,5000,15000", value_parser = crate::bounded::count::<1100, 10_000_000, usize>)]
    pub points: Vec<usize>,
    /// `pendulum`: SAC runs (seeds `seed..seed+N`), each scored at every point.
    #[arg(long, default_value_t = 2, value_parser = crate::bounded::count::<1, 100, u64>)]
    pub seeds: u64,
    /// `pendulum`: Monte-Carlo rollout pairs per state for the truth (its noise shrinks as
    /// 1/sqrt of this).
    #[arg(long, default_value_t = 4, value_parser = crate::bounded::count::<2, 10_000, usize>)]
    pub rollouts: usize,
    /// `pendulum`: the half-width of the truth's central differences in the actor's [-1, 1]
    /// action units (0.05: 0.1 N m of Pendulum's torque).
    #[arg(long, default_value_t = 0.05)]
    pub fd_step: f64,
    /// `pendulum`: rollout length (0: until gamma^H < 1%).
    #[arg(long, default_value_t = 0, value_parser = crate::bounded::count::<0, 100_000, usize>)]
    pub horizon: usize,
    /// `pendulum`: `replay` (minibatches of the run's replay buffer, as SAC trains) or
    /// `on-policy` (states from the policy's discounted state distribution).
    #[arg(long, value_enum, default_value = "replay")]
    pub states: continuous::States,
    /// `rollout` (one on-policy episode per batch, as the tabular agents train) or
    /// `exact-d` (i.i.d. from d_theta, the distribution the theorems assume).
    #[arg(long, value_enum, default_value = "rollout")]
    pub sampling: suite::Sampling,
    /// Do not print the scorecard (it is written to the folder either way).
    #[arg(long)]
    pub quiet: bool,
    /// Parent folder: the scorecard goes to `<runs>/score/<suite>-<timestamp>/`.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
}

/// What is scored when no estimator is named: every tabular estimator acgap ships (the
/// third-party example where it is built), and the model-based references.
const DEFAULT_ROWS: [&str; 8] = [
    "agc+res-ac",
    "aoc+stack-ac",
    "aoc+stack-ac:eta=0.001",
    "aoc+exact-stackelberg-visible",
    "aoc+exact-stackelberg-semi",
    "aoc+exact-stackelberg",
    "agc+baseline",
    "agc+oracle",
];

/// One scored (task, point, row).
pub struct Cell {
    pub task: String,
    pub point: String,
    /// `||q_phi - q_theta|| / ||q_theta||` at the point.
    pub critic_error: f64,
    pub row: String,
    pub result: Result<Scores, String>,
}

/// The rows: the two plain actor-critics, then the estimators.
pub fn rows(specs: &[String]) -> Result<Vec<Row>, String> {
    let mut rows = vec![Row::plain(Base::ActorG), Row::plain(Base::ActorO)];
    if specs.is_empty() {
        for spec in DEFAULT_ROWS {
            let row = Row::parse(spec)?;
            let found = match &row.estimator {
                estimators::Estimator::Plugin(p) => p.check().is_ok(),
                _ => true,
            };
            if found {
                rows.push(row);
            }
        }
    } else {
        for spec in specs {
            let row = Row::parse(spec)?;
            // A name that finds no plugin is a typo, not an estimator that failed.
            if let estimators::Estimator::Plugin(p) = &row.estimator {
                p.check()?;
            }
            if !rows.iter().any(|r| r.label == row.label) {
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// Score every row at every point of every task.
pub fn score_all(tasks: &[Task], rows: &[Row], o: &Options) -> Vec<Cell> {
    let mut cells = Vec::new();
    for (ti, task) in tasks.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(acgap_sdk::seeds::derive(o.seed, &task.name));
        for point in suite::points(task, &mut rng) {
            let exact = Exact::new(&task.mdp, &point.theta);
            let pg = exact.policy_gradient().as_slice().to_vec();
            let policy = softmax_table(&point.theta, task.model.actions);
            let (warmup, scored) = tabular_counts(o);
            let batches: Vec<Vec<Transition>> = (0..warmup + scored)
                .map(|_| {
                    suite::batch(
                        o.sampling,
                        &task.model,
                        &policy,
                        exact.d_s.as_slice(),
                        &mut rng,
                    )
                })
                .collect();
            let critic_error = (acgap_exact::Vector::from_column_slice(&point.critic) - &exact.q)
                .norm()
                / exact.q.norm().max(1e-300);
            let mut base_gaps: Vec<(Base, Vec<f64>)> = Vec::new();
            for row in rows {
                let base_gap = base_gaps
                    .iter()
                    .find(|(b, _)| *b == row.base)
                    .map(|(_, m)| m.clone());
                let plain = matches!(row.estimator, estimators::Estimator::None);
                let seed = acgap_sdk::seeds::derive(o.seed, &format!("{ti}/{}", point.name));
                let xs = row
                    .build(task, &point, seed)
                    .and_then(|est| directions(task, &point, row.base, est, &batches, warmup));
                let truth = stats::Truth::Exact(&pg);
                if plain && let Ok(xs) = &xs {
                    base_gaps.push((row.base, stats::mean_gap(xs, truth)));
                }
                let result = xs.map(|xs| {
                    stats::score(&xs, truth, if plain { None } else { base_gap.as_deref() })
                });
                cells.push(Cell {
                    task: task.name.clone(),
                    point: point.name.clone(),
                    critic_error,
                    row: row.label.clone(),
                    result,
                });
            }
        }
    }
    cells
}

/// The row's actor direction on every scored batch. An estimator that errs, returns a
/// malformed term or panics fails its row with the reason.
fn directions(
    task: &Task,
    point: &Point,
    base: Base,
    mut est: Option<Box<dyn TabularCorrection>>,
    batches: &[Vec<Transition>],
    warmup: usize,
) -> Result<Vec<Vec<f64>>, String> {
    guarded(|| {
        let mut xs = Vec::with_capacity(batches.len().saturating_sub(warmup));
        for (b, batch) in batches.iter().enumerate() {
            let ctx = suite::context(task, &point.theta, &point.critic, batch.clone(), base);
            let term = match &mut est {
                Some(e) => e.update(&ctx)?.term,
                None => Term::Zero,
            };
            if b >= warmup {
                xs.push(ctx.actor_direction(&term)?);
            }
        }
        Ok(xs)
    })
}

/// `f`, with a panic turned into an error that names it: an estimator's bug fails its own row.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "no message".into());
        Err(format!("panicked: {msg}"))
    })
}

/// Run the scorecard and write it to a new folder under `<runs>/score/`.
/// `host score`: run the scorecard, write it, say where.
pub fn command(o: &Options) -> Result<(), String> {
    let dir = run(o, &o.runs)?;
    println!(
        "\nwrote {0}/scorecard.md, scorecard.csv, bias_variance.svg",
        dir.display()
    );
    Ok(())
}

/// The most batches `--batches` and `--warmup` may each ask for (50 x the default): every
/// point keeps its warm-up and scored batches in memory.
const MAX_BATCHES: u64 = 100_000;

/// The tabular suites' warm-up and scored batches per point.
pub fn tabular_counts(o: &Options) -> (usize, usize) {
    (o.warmup.unwrap_or(100), o.batches.unwrap_or(2000))
}

/// Run the scorecard and write it to a new folder under `runs`.
pub fn run(o: &Options, runs: &Path) -> Result<PathBuf, String> {
    crate::output::folder::check_output_root("`--runs`", runs)?;
    if o.suite == "pendulum" {
        return continuous::run(o, runs);
    }
    let rows = rows(&o.estimators)?;
    let tasks = suite::tasks(&o.suite)?;
    let started = std::time::Instant::now();
    let cells = score_all(&tasks, &rows, o);
    let seconds = started.elapsed().as_secs_f64();
    let dir = crate::output::folder::create_unique(&runs.join("score").join(format!(
        "{}-{}",
        o.suite,
        crate::output::run_dir::timestamp()
    )))?;
    let md = card::write(&dir, &tasks, &rows, &cells, o, seconds)?;
    if !o.quiet {
        print!("{md}");
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::estimators::{ModelEstimator, Row};
    use super::*;
    use acgap_sdk::PluginResult;
    use acgap_sdk::tabular::{TabularContext, TabularUpdate};

    /// A model-based test estimator returning `f(pg, ctx)` as its term.
    struct Fixed(Vec<f64>, fn(&[f64], &TabularContext) -> Term<f64>);

    impl TabularCorrection for Fixed {
        fn update(&mut self, ctx: &TabularContext) -> PluginResult<TabularUpdate> {
            Ok(TabularUpdate {
                term: (self.1)(&self.0, ctx),
                metrics: Vec::new(),
                critic_correction: None,
            })
        }
    }

    /// An Actor^g row with the test estimator `name` of [`BUILDERS`].
    fn row(name: &'static str) -> Row {
        let build = BUILDERS.iter().find(|b| b.0 == name).unwrap().1;
        Row::model(Base::ActorG, ModelEstimator { name, build })
    }

    type Builder = (
        &'static str,
        fn(&Exact, &acgap_exact::Vector) -> Box<dyn TabularCorrection>,
    );

    /// `0.5 e_0` added to the oracle: a known absolute bias of 0.5.
    fn biased(pg: &[f64], ctx: &TabularContext) -> Term<f64> {
        let mut d: Vec<f64> = pg
            .iter()
            .zip(&ctx.base_direction)
            .map(|(p, b)| p - b)
            .collect();
        d[0] += 0.5;
        Term::Direction(d)
    }

    const BUILDERS: [Builder; 5] = [
        ("zero", |e, _| Box::new(Fixed(pg(e), |_, _| Term::Zero))),
        ("biased", |e, _| Box::new(Fixed(pg(e), biased))),
        ("wrong-length", |e, _| {
            Box::new(Fixed(pg(e), |_, _| Term::Direction(vec![1.0; 3])))
        }),
        ("nan", |e, _| {
            Box::new(Fixed(pg(e), |_, c| {
                Term::Mean(vec![f64::NAN; c.batch.len()])
            }))
        }),
        ("panics", |e, _| {
            Box::new(Fixed(pg(e), |_, _| panic!("estimator bug")))
        }),
    ];

    fn pg(e: &Exact) -> Vec<f64> {
        e.policy_gradient().as_slice().to_vec()
    }

    fn options() -> Options {
        Options {
            estimators: Vec::new(),
            suite: "quick".into(),
            batches: Some(40),
            warmup: Some(5),
            seed: 3,
            seeds: 1,
            rollouts: 4,
            horizon: 0,
            fd_step: 0.05,
            points: vec![2000],
            states: continuous::States::Replay,
            sampling: suite::Sampling::Rollout,
            quiet: true,
            runs: PathBuf::new(),
        }
    }

    fn scored<'a>(cells: &'a [Cell], row: &str) -> Vec<&'a Scores> {
        let v: Vec<&Scores> = cells
            .iter()
            .filter(|c| c.row == row)
            .map(|c| c.result.as_ref().unwrap_or_else(|e| panic!("{row}: {e}")))
            .collect();
        assert_eq!(
            v.len(),
            2 * suite::CRITIC_ERRORS.len() + suite::TRAINING_UPDATES.len()
        );
        v
    }

    /// Known answers: the oracle scores bias 0 and closes the whole gap; a zero correction
    /// closes none; the oracle plus a known offset scores that offset; Theorem 3's exact
    /// Stackelberg term on Actor^o gives the policy gradient for any critic.
    #[test]
    fn the_scorecard_is_right_where_the_answer_is_known() {
        let tasks = suite::tasks("quick").unwrap();
        let mut rows = rows(&["agc+oracle".into(), "aoc+exact-stackelberg".into()]).unwrap();
        rows.push(row("zero"));
        rows.push(row("biased"));
        let cells = score_all(&tasks, &rows, &options());
        let pg_norms: Vec<f64> = {
            let task = &tasks[0];
            let mut rng = ChaCha8Rng::seed_from_u64(acgap_sdk::seeds::derive(3, &task.name));
            suite::points(task, &mut rng)
                .iter()
                .map(|p| Exact::new(&task.mdp, &p.theta).policy_gradient().norm())
                .collect()
        };
        for s in scored(&cells, "agc+oracle") {
            assert!(s.rel_bias < 1e-12 && s.rel_variance < 1e-20, "{s:?}");
            assert!((s.gap_closed.unwrap() - 1.0).abs() < 1e-12, "{s:?}");
            assert!((s.cosine_of_mean - 1.0).abs() < 1e-12);
        }
        for s in scored(&cells, "aoc+exact-stackelberg") {
            assert!(s.rel_bias < 1e-9, "Theorem 3: {s:?}");
        }
        let plain = scored(&cells, "agc");
        for (z, p) in scored(&cells, "agc+zero").iter().zip(&plain) {
            assert_eq!(z.gap_closed, Some(0.0));
            assert_eq!(z.rel_bias, p.rel_bias);
            assert_eq!(z.rel_variance, p.rel_variance);
        }
        for (s, norm) in scored(&cells, "agc+biased").iter().zip(&pg_norms) {
            assert!(
                (s.rel_bias - 0.5 / norm).abs() < 1e-9 * s.rel_bias,
                "{s:?} vs {}",
                0.5 / norm
            );
            assert!(s.rel_variance < 1e-20);
        }
    }

    /// An estimator that returns the wrong length, NaN, or panics fails its row with the
    /// reason; the other rows are still scored.
    #[test]
    fn a_failing_estimator_fails_its_row_only() {
        let tasks = suite::tasks("quick").unwrap();
        let mut rows = rows(&["agc+oracle".into()]).unwrap();
        for name in ["wrong-length", "nan", "panics"] {
            rows.push(row(name));
        }
        let cells = score_all(&tasks, &rows, &options());
        for (name, needle) in [
            ("agc+wrong-length", "direction of 3 values"),
            ("agc+nan", "non-finite"),
            ("agc+panics", "panicked: estimator bug"),
        ] {
            for c in cells.iter().filter(|c| c.row == name) {
                let e = c.result.as_ref().expect_err(name);
                assert!(e.contains(needle), "{name}: {e}");
            }
        }
        scored(&cells, "agc+oracle");
        scored(&cells, "agc");
    }
}
