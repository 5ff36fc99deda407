//! `host exact`: the paper's dynamic-programming experiments (Wen et al. 2021, appendix D.1.1,
//! Fig. 4) on a tabular env with its exact model. The actor follows the exact policy gradient
//! (`pg`), the Actor^o gradient (`aoc`) or the Actor^g gradient (`agc`); the tabular critic
//! follows the full Bellman-residual gradient (`br`) or the TD semi-gradient (`td`), both
//! weighted on-policy by d_theta; Adam, actor lr 0.01, critic lr 0.02; uniform policy and zero
//! critic at the start. Logs the exact J and the critic loss Jq per iteration.

use acgap_exact::{Adam, Exact, Mdp, Vector};
use clap::ValueEnum;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum Actor {
    /// The true policy gradient.
    Pg,
    /// Actor^o: start-state weighting.
    Aoc,
    /// Actor^g: on-policy state weighting.
    Agc,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum Critic {
    /// Full gradient of the Bellman residual.
    Br,
    /// TD semi-gradient.
    Td,
}

/// `host exact`'s arguments.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// A tabular environment (see `host envs`).
    #[arg(long, default_value = "fourroom")]
    pub env: String,
    /// Actor updates to run (comma-separated).
    #[arg(
        long = "actor",
        value_enum,
        value_delimiter = ',',
        default_value = "pg,aoc,agc"
    )]
    pub actors: Vec<Actor>,
    /// Critic updates to run (comma-separated).
    #[arg(
        long = "critic",
        value_enum,
        value_delimiter = ',',
        default_value = "br,td"
    )]
    pub critics: Vec<Critic>,
    /// Iterations of each method (each one's J and Jq are kept for the CSV and the plot).
    #[arg(long, default_value_t = 3000, value_parser = crate::bounded::count::<1, 1_000_000, usize>)]
    pub iterations: usize,
    #[arg(long, default_value_t = 0.01)]
    pub actor_lr: f64,
    #[arg(long, default_value_t = 0.02)]
    pub critic_lr: f64,
    /// Parent folder: results go to `<runs>/exact/<env>-<timestamp>/`.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
}

/// `host exact`: run the experiments, say where they went.
pub fn command(o: &Options) -> Result<(), String> {
    let dir = run(o, &o.runs)?;
    println!("wrote {}/dp.csv, dp_J.png, dp_Jq.png", dir.display());
    Ok(())
}

fn label(a: Actor, c: Critic) -> String {
    format!("{a:?}+{c:?}")
        .to_uppercase()
        .replace("AOC", "AoC")
        .replace("AGC", "AgC")
}

/// (J, Jq) after every iteration of one actor/critic pair.
pub fn trajectory(mdp: &Mdp, actor: Actor, critic: Critic, o: &Options) -> Vec<(f64, f64)> {
    let n = mdp.pairs();
    let (mut theta, mut q) = (vec![0.0; n], Vector::zeros(n));
    let (mut actor_adam, mut critic_adam) = (Adam::new(n, o.actor_lr), Adam::new(n, o.critic_lr));
    let mut out = Vec::with_capacity(o.iterations + 1);
    for it in 0..=o.iterations {
        let e = Exact::new(mdp, &theta);
        out.push((e.j, e.critic_loss(&q)));
        if it == o.iterations {
            break;
        }
        let g = match actor {
            Actor::Pg => e.policy_gradient(),
            Actor::Aoc => e.actor_o(&q),
            Actor::Agc => e.actor_g(&q),
        };
        let c = match critic {
            Critic::Br => e.br_gradient(&q),
            Critic::Td => e.td_gradient(&q),
        };
        actor_adam.ascend(&mut theta, g.as_slice());
        critic_adam.descend(q.as_mut_slice(), c.as_slice());
    }
    out
}

pub fn run(o: &Options, runs: &Path) -> Result<PathBuf, String> {
    crate::output::folder::check_output_root("`--runs`", runs)?;
    let env = acgap_envs::make(&o.env, 0).map_err(|e| e.to_string())?;
    let model = env.spec().tabular.clone().ok_or_else(|| {
        format!(
            "`host exact` needs a tabular environment with an exact model (fourroom, random-mdp); `{}` has none",
            o.env
        )
    })?;
    let mdp = Mdp::new(&model)?;
    let dir = runs.join("exact").join(format!(
        "{}-{}",
        o.env.replace(['/', ':'], "_"),
        crate::output::run_dir::timestamp()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let optimal = mdp.optimal_j();
    let mut csv = String::from("iteration,method,J,Jq\n");
    let (mut j_bands, mut jq_bands) = (Vec::new(), Vec::new());
    println!("optimal J* = {optimal:.6}");
    for &a in &o.actors {
        for &c in &o.critics {
            let name = label(a, c);
            let traj = trajectory(&mdp, a, c, o);
            for (i, (j, jq)) in traj.iter().enumerate() {
                let _ = writeln!(csv, "{i},{name},{j},{jq}");
            }
            let (j_end, jq_end) = traj[traj.len() - 1];
            let reach = |share: f64| {
                traj.iter()
                    .position(|p| p.0 >= share * optimal)
                    .map_or("never".to_string(), |i| i.to_string())
            };
            println!(
                "{name:8} J = {j_end:.6} ({:.2}% of J*), Jq = {jq_end:.3e}; iterations to 90% / 99% of J*: {} / {}",
                100.0 * j_end / optimal,
                reach(0.9),
                reach(0.99)
            );
            let line = |f: fn(&(f64, f64)) -> f64| crate::output::plot::Band {
                label: name.clone(),
                points: traj
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (i as f64, f(p), f(p), f(p)))
                    .collect(),
            };
            j_bands.push(line(|p| p.0));
            jq_bands.push(line(|p| p.1.max(1e-300).log10()));
        }
    }
    crate::output::run_dir::write_atomic(&dir.join("dp.csv"), csv.as_bytes())?;
    let axes = |y: &str| crate::output::plot::Axes {
        x: "iteration".into(),
        y: y.into(),
    };
    crate::output::plot::comparison(
        &dir,
        "dp_J",
        &format!("exact DP on {}: J of the policy (J* = {optimal:.4})", o.env),
        &axes("J = (1 - gamma) mu0 . v"),
        &j_bands,
    )?;
    crate::output::plot::comparison(
        &dir,
        "dp_Jq",
        &format!("exact DP on {}: critic loss", o.env),
        &axes("log10 Jq"),
        &jq_bands,
    )?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_policy_gradient_solves_fourroom_and_ignores_the_critic() {
        let env = acgap_envs::make("fourroom", 0).unwrap();
        let mdp = Mdp::new(env.spec().tabular.as_ref().unwrap()).unwrap();
        let o = Options {
            env: "fourroom".into(),
            actors: vec![],
            critics: vec![],
            iterations: 1000,
            actor_lr: 0.01,
            critic_lr: 0.02,
            runs: PathBuf::new(),
        };
        let br = trajectory(&mdp, Actor::Pg, Critic::Br, &o);
        let td = trajectory(&mdp, Actor::Pg, Critic::Td, &o);
        let optimal = mdp.optimal_j();
        assert!(
            br[1000].0 >= 0.99 * optimal,
            "{} vs J* {optimal}",
            br[1000].0
        );
        assert!(
            br.iter().zip(&td).all(|(a, b)| a.0 == b.0),
            "PG does not read the critic"
        );
        // The critics do differ, and both fit: Jq falls by orders of magnitude.
        assert!(br[1000].1 < 1e-3 * br[10].1 && td[1000].1 < td[10].1);
        assert_ne!(br[1000].1, td[1000].1);
    }
}
