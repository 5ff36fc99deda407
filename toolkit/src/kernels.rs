//! Which kernels the fused CPU path runs, chosen on this CPU by measuring them.
//!
//! Two choices: the matrix-product kernel of the fused MLP passes (the `gemm` crate's or
//! faer's, each with its own blocking and its own run-time dispatch to AVX2 or AVX-512
//! micro-kernels) and the vector width of the elementwise loops (Adam, Polyak averaging,
//! activations: SSE2, AVX2 or AVX-512). Which is fastest depends on the CPU, not only on its
//! instruction sets (docs/performance.md, "Kernels chosen by measuring"), so the first use in
//! a process takes the choice from, in order:
//!
//! 1. `ACGAP_KERNELS` (e.g. `gemm+avx2`), to force one (an exact resume on another machine,
//!    or a comparison);
//! 2. the cache, `<cache dir>/acgap/kernels-<key>.json`, keyed by the CPU's model and
//!    instruction sets and this build (toolkit version, calibration revision, profile);
//! 3. a calibration (about 0.2 s): every candidate timed in turn on the fused path's own
//!    passes (forward, both backward passes, Adam and Polyak averaging) of a 2 x 256 MLP at
//!    batch 256 and a 2 x 128 one at batch 128; the best of five rounds each. An alternative
//!    replaces the default
//!    (`gemm`, AVX2 where the CPU has it) only when it is at least 5% faster, so timing noise
//!    does not flip the choice. The result is written to the cache, the first writer winning,
//!    so every plugin and every process on the machine uses the same choice.
//!
//! What a choice may change: the vector width none of the numbers (the loops have no
//! reductions across lanes, and Rust does not fuse multiply-adds: tested bit for bit); the
//! matrix kernel the order of each product's sums, as any other CPU or kernel would. An
//! agent reports its choice ([`acgap_sdk::Agent::kernels`]) and the host writes it into the
//! run's `run.json`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Instant;

/// The matrix-product kernel of the fused passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matmul {
    /// The `gemm` crate (burn-flex's), AVX-512 micro-kernels where the CPU has them.
    Gemm,
    /// faer's matrix product.
    Faer,
}

/// The vector width the elementwise loops are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vectors {
    /// The crate's baseline: 4 floats.
    Sse2,
    /// 8 floats.
    Avx2,
    /// 16 floats.
    Avx512,
}

/// One choice of the fused path's kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernels {
    pub matmul: Matmul,
    pub vectors: Vectors,
}

/// The environment variable that forces a choice.
pub const ENV: &str = "ACGAP_KERNELS";

/// Bumped when the candidates or the calibration change, so older cached choices are not read.
const REVISION: u32 = 1;

/// An alternative must beat the default by this factor to be chosen.
const MARGIN: f64 = 0.95;

impl Kernels {
    /// The choice without measuring: the `gemm` crate and AVX2 where the CPU has it.
    pub fn default_for_cpu() -> Self {
        Kernels {
            matmul: Matmul::Gemm,
            vectors: if Vectors::Avx2.available() {
                Vectors::Avx2
            } else {
                Vectors::Sse2
            },
        }
    }

    /// Every choice this CPU can run.
    pub fn candidates() -> Vec<Kernels> {
        let mut all = Vec::new();
        for matmul in [Matmul::Gemm, Matmul::Faer] {
            for vectors in [Vectors::Sse2, Vectors::Avx2, Vectors::Avx512] {
                if vectors.available() {
                    all.push(Kernels { matmul, vectors });
                }
            }
        }
        all
    }
}

impl Vectors {
    /// Whether this CPU has the instructions.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Vectors::Sse2 => true,
                Vectors::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
                Vectors::Avx512 => {
                    std::arch::is_x86_feature_detected!("avx512f")
                        && std::arch::is_x86_feature_detected!("avx512vl")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            // Elsewhere the loops run as the crate is compiled, whatever the name says.
            self == Vectors::Sse2
        }
    }
}

impl fmt::Display for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let matmul = match self.matmul {
            Matmul::Gemm => "gemm",
            Matmul::Faer => "faer",
        };
        let vectors = match self.vectors {
            Vectors::Sse2 => "sse2",
            Vectors::Avx2 => "avx2",
            Vectors::Avx512 => "avx512",
        };
        write!(f, "{matmul}+{vectors}")
    }
}

impl FromStr for Kernels {
    type Err = String;

    /// `matmul+vectors`, e.g. `gemm+avx2`; refused when this CPU lacks the instructions.
    fn from_str(s: &str) -> Result<Self, String> {
        let expected = "expected <gemm|faer>+<sse2|avx2|avx512>, e.g. gemm+avx2";
        let (m, v) = s
            .trim()
            .split_once('+')
            .ok_or_else(|| format!("kernels `{s}`: {expected}"))?;
        let matmul = match m {
            "gemm" => Matmul::Gemm,
            "faer" => Matmul::Faer,
            _ => {
                return Err(format!(
                    "kernels `{s}`: unknown matrix kernel `{m}`; {expected}"
                ));
            }
        };
        let vectors = match v {
            "sse2" => Vectors::Sse2,
            "avx2" => Vectors::Avx2,
            "avx512" => Vectors::Avx512,
            _ => {
                return Err(format!(
                    "kernels `{s}`: unknown vector width `{v}`; {expected}"
                ));
            }
        };
        if !vectors.available() {
            return Err(format!("kernels `{s}`: this CPU has no {v} instructions"));
        }
        Ok(Kernels { matmul, vectors })
    }
}

/// The choice of this process and where it came from.
#[derive(Clone, Debug)]
pub struct Choice {
    pub kernels: Kernels,
    /// `ACGAP_KERNELS`, `cache <path>` or `calibrated`.
    pub source: String,
}

static CHOICE: OnceLock<Result<Choice, String>> = OnceLock::new();

/// The process's choice, made on first use; an error only for a bad `ACGAP_KERNELS`.
pub fn choice() -> Result<&'static Choice, String> {
    CHOICE.get_or_init(choose).as_ref().map_err(Clone::clone)
}

/// The kernels to run now: a candidate being timed on this thread, else the process's choice
/// (the default if the choice failed: the device check reports it).
pub(crate) fn current() -> Kernels {
    TRYING
        .with(|t| t.get())
        .unwrap_or_else(|| choice().map_or_else(|_| Kernels::default_for_cpu(), |c| c.kernels))
}

/// What an agent on `device` reports as its kernels: this process's choice on the CPU (whose
/// fused passes and Adam run on them), nothing elsewhere.
pub fn reported(device: &crate::Device) -> Option<String> {
    (*device == crate::Device::flex()).then(|| current().to_string())
}

fn choose() -> Result<Choice, String> {
    if let Ok(forced) = std::env::var(ENV) {
        let kernels = forced.parse().map_err(|e| format!("{ENV}: {e}"))?;
        return Ok(Choice {
            kernels,
            source: ENV.into(),
        });
    }
    let path = cache_path();
    if let Some(kernels) = path.as_ref().and_then(|p| read_cache(p)) {
        return Ok(Choice {
            kernels,
            source: format!("cache {}", path.unwrap().display()),
        });
    }
    let measured = calibrate();
    // The first writer wins: another plugin or process may have chosen meanwhile.
    let kernels = match &path {
        Some(p) => write_cache(p, measured.kernels, &measured.table()).unwrap_or(measured.kernels),
        None => measured.kernels,
    };
    Ok(Choice {
        kernels,
        source: "calibrated".into(),
    })
}

/// The CPU's model name and the instruction sets the candidates use.
pub fn cpu_description() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let isa: Vec<&str> = [(Vectors::Avx2, "avx2"), (Vectors::Avx512, "avx512")]
        .into_iter()
        .filter(|(v, _)| v.available())
        .map(|(_, name)| name)
        .collect();
    format!("{model} ({})", isa.join(", "))
}

/// The cache's key: the CPU and this build.
fn cache_key() -> String {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!(
        "{} | toolkit {} | calibration {REVISION} | {profile}",
        cpu_description(),
        env!("CARGO_PKG_VERSION")
    )
}

/// `$ACGAP_CACHE_DIR`, else `$XDG_CACHE_HOME/acgap`, else `~/.cache/acgap`.
fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("ACGAP_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("acgap")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("acgap")))
}

fn cache_path() -> Option<PathBuf> {
    // FNV-1a: a stable file name for the key (the key itself is inside the file).
    let hash = cache_key().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    Some(cache_dir()?.join(format!("kernels-{hash:016x}.json")))
}

/// A cached choice for this key; `None` if absent, unreadable or for another key.
fn read_cache(path: &std::path::Path) -> Option<Kernels> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    if json["key"].as_str()? != cache_key() {
        return None;
    }
    json["kernels"].as_str()?.parse().ok()
}

/// Writes the choice unless one is there already, and returns the one that is there.
fn write_cache(
    path: &std::path::Path,
    kernels: Kernels,
    timings: &serde_json::Value,
) -> Option<Kernels> {
    let dir = path.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    let json = serde_json::json!({
        "key": cache_key(),
        "kernels": kernels.to_string(),
        "seconds_per_round": timings,
    });
    // Complete in a private file first, then linked into place: a reader never sees half a
    // file, and a link does not replace a file another writer put there first.
    let tmp = dir.join(format!(
        ".kernels-{}-{:?}.tmp",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&tmp, serde_json::to_string_pretty(&json).ok()?).ok()?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Some(kernels),
        // Someone else's choice, or an unreadable file in the way: replace the latter.
        Err(_) => read_cache(path).or_else(|| {
            let tmp = dir.join(format!(".kernels-{}.replace", std::process::id()));
            std::fs::write(&tmp, serde_json::to_string_pretty(&json).ok()?).ok()?;
            std::fs::rename(&tmp, path).ok()?;
            Some(kernels)
        }),
    }
}

/// What a calibration measured.
pub struct Calibration {
    pub kernels: Kernels,
    /// Seconds of one round of the workload per candidate, the best of the rounds.
    pub seconds: Vec<(Kernels, f64)>,
}

impl Calibration {
    fn table(&self) -> serde_json::Value {
        let pairs = self
            .seconds
            .iter()
            .map(|(k, s)| (k.to_string(), (*s).into()));
        serde_json::Value::Object(pairs.collect())
    }
}

thread_local! {
    /// The candidate being timed on this thread (the calibration runs the real passes).
    static TRYING: std::cell::Cell<Option<Kernels>> = const { std::cell::Cell::new(None) };
}

/// `f()` with `kernels` in place of the process's choice on this thread.
pub(crate) fn with_kernels<R>(kernels: Kernels, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Kernels>);
    impl Drop for Restore {
        fn drop(&mut self) {
            TRYING.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(TRYING.with(|t| t.replace(Some(kernels))));
    f()
}

/// Times every candidate on the fused path's own work — the forward pass, both backward
/// passes and Adam's step of a 2 x 256 MLP at batch 256 and a 2 x 128 one at batch 128 —
/// in turn, five rounds, the best of each, and picks the fastest, keeping the default unless
/// an alternative is at least 5% faster.
pub fn calibrate() -> Calibration {
    const ROUNDS: usize = 5;
    let candidates = Kernels::candidates();
    let mut nets: Vec<Workload> = NETS.iter().map(|&n| Workload::new(n)).collect();
    let mut best = vec![f64::INFINITY; candidates.len()];
    crate::flush_subnormals(|| {
        // Each candidate runs twice in a row and the second is timed, so none is measured
        // with the caches another left; and the order turns every round.
        for round in 0..ROUNDS {
            for j in 0..candidates.len() {
                let i = (j + round) % candidates.len();
                with_kernels(candidates[i], || {
                    nets.iter_mut().for_each(Workload::step);
                    let start = Instant::now();
                    nets.iter_mut().for_each(Workload::step);
                    best[i] = best[i].min(start.elapsed().as_secs_f64());
                });
            }
        }
    });
    Calibration {
        kernels: pick(&candidates, &best, Kernels::default_for_cpu()),
        seconds: candidates.into_iter().zip(best).collect(),
    }
}

/// The fastest of `names`, unless it is less than 5% faster than `default`.
fn pick<T: Copy + PartialEq>(names: &[T], times: &[f64], default: T) -> T {
    let at = |x| times[names.iter().position(|n| *n == x).unwrap()];
    let (best, t) = names
        .iter()
        .zip(times)
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(n, t)| (*n, *t))
        .unwrap();
    if t < MARGIN * at(default) {
        best
    } else {
        default
    }
}

/// The calibration's networks: `(input, hidden, batch)` of a 2 x 256 MLP at batch 256 and a
/// 2 x 128 one at batch 128 (SAC's two common sizes), input 24 (a MuJoCo task's obs + act).
const NETS: [(usize, usize, usize); 2] = [(24, 256, 256), (24, 128, 128)];

/// One network's training step on fixed data, as the SAC core's fused steps run it.
struct Workload {
    net: crate::HostMlp,
    target: crate::HostMlp,
    adam: crate::Adam,
    x: Vec<f32>,
    d_out: Vec<f32>,
    tape: crate::Tape,
    grads: Vec<Vec<f32>>,
    dx: Vec<f32>,
}

impl Workload {
    fn new((input, hidden, batch): (usize, usize, usize)) -> Self {
        // A fixed, cheap fill: the values do not matter, only that they are normal floats.
        let fill = |n: usize, scale: f32| -> Vec<f32> {
            (0..n as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) % 2001) as f32 / 1000.0 - 1.0)
                .map(|v| v * scale)
                .collect()
        };
        let sizes = vec![input, hidden, hidden, 1];
        let params: Vec<Vec<f32>> = sizes
            .windows(2)
            .flat_map(|w| {
                [
                    fill(w[0] * w[1], 1.0 / (w[0] as f32).sqrt()),
                    fill(w[1], 0.1),
                ]
            })
            .collect();
        let lens: Vec<usize> = params.iter().map(Vec::len).collect();
        let net = crate::HostMlp {
            sizes,
            activation: crate::Activation::Relu,
            params,
        };
        Workload {
            grads: net.zeros_like(),
            target: net.clone(),
            adam: crate::Adam::for_sizes(&lens, 1e-4),
            net,
            x: fill(batch * input, 1.0),
            d_out: fill(batch, 1.0 / batch as f32),
            tape: crate::Tape::default(),
            dx: Vec::new(),
        }
    }

    /// Forward, the parameter gradients, the input gradient, an Adam step and a Polyak average.
    fn step(&mut self) {
        use crate::Wanted;
        let rows = self.d_out.len();
        self.net.forward(&self.x, rows, &mut self.tape);
        let params = Some(&mut self.grads[..]);
        self.net.backward(
            &mut self.tape,
            &self.d_out,
            Wanted {
                params,
                input: None,
            },
        );
        let input = Some(&mut self.dx);
        self.net.backward(
            &mut self.tape,
            &self.d_out,
            Wanted {
                params: None,
                input,
            },
        );
        let mut params = std::mem::take(&mut self.net.params);
        self.adam.step_host(&mut params, &self.grads);
        self.net.params = params;
        self.target.polyak_from(&self.net, 0.005);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_parse_print_and_refuse_clearly() {
        for k in Kernels::candidates() {
            assert_eq!(k.to_string().parse::<Kernels>(), Ok(k));
        }
        assert_eq!(
            "faer+sse2".parse::<Kernels>(),
            Ok(Kernels {
                matmul: Matmul::Faer,
                vectors: Vectors::Sse2
            })
        );
        let err = "blas+avx2".parse::<Kernels>().unwrap_err();
        assert!(
            err.contains("unknown matrix kernel `blas`") && err.contains("gemm+avx2"),
            "{err}"
        );
        let err = "gemm".parse::<Kernels>().unwrap_err();
        assert!(
            err.contains("expected <gemm|faer>+<sse2|avx2|avx512>"),
            "{err}"
        );
        let err = "gemm+avx3".parse::<Kernels>().unwrap_err();
        assert!(err.contains("unknown vector width `avx3`"), "{err}");
        if !Vectors::Avx512.available() {
            let err = "gemm+avx512".parse::<Kernels>().unwrap_err();
            assert!(err.contains("no avx512 instructions"), "{err}");
        }
    }

    /// The parameters after three training steps of the calibration's small net on `kernels`.
    fn trained(kernels: Kernels) -> Vec<Vec<f32>> {
        let mut w = Workload::new(NETS[0]);
        with_kernels(kernels, || (0..3).for_each(|_| w.step()));
        let mut out = w.net.params.clone();
        out.push(w.dx.clone());
        out.extend(w.target.params);
        out
    }

    #[test]
    fn vector_widths_give_the_same_bits_and_matrix_kernels_the_same_numbers() {
        for matmul in [Matmul::Gemm, Matmul::Faer] {
            let base = trained(Kernels {
                matmul,
                vectors: Vectors::Sse2,
            });
            for k in Kernels::candidates()
                .into_iter()
                .filter(|k| k.matmul == matmul)
            {
                let bits = |p: &Vec<Vec<f32>>| -> Vec<u32> {
                    p.iter().flatten().map(|v| v.to_bits()).collect()
                };
                assert!(
                    bits(&trained(k)) == bits(&base),
                    "{k} differs from {matmul:?}+sse2"
                );
            }
        }
        // The two matrix kernels sum in other orders: close, not equal.
        let (g, f) = (
            trained(Kernels::default_for_cpu()),
            trained(Kernels {
                matmul: Matmul::Faer,
                ..Kernels::default_for_cpu()
            }),
        );
        let (mut most, mut scale) = (0f32, 0f32);
        for (a, b) in g.iter().flatten().zip(f.iter().flatten()) {
            most = most.max((a - b).abs());
            scale = scale.max(a.abs());
        }
        assert!(
            most <= 1e-5 * scale.max(1.0),
            "gemm and faer differ by {most} (scale {scale})"
        );
        eprintln!("gemm vs faer: largest difference {most} (scale {scale})");
    }

    #[test]
    fn a_calibration_picks_a_candidate_and_the_cache_keeps_the_first_choice() {
        let measured = calibrate();
        eprintln!(
            "{}: {} {}",
            cpu_description(),
            measured.kernels,
            measured.table()
        );
        assert!(Kernels::candidates().contains(&measured.kernels));
        assert_eq!(measured.seconds.len(), Kernels::candidates().len());
        assert!(
            measured
                .seconds
                .iter()
                .all(|(_, s)| *s > 0.0 && s.is_finite())
        );
        let dir = std::env::temp_dir().join(format!("acgap-kernels-{}", std::process::id()));
        let path = dir.join("kernels-test.json");
        let first = Kernels {
            matmul: Matmul::Faer,
            vectors: Vectors::Sse2,
        };
        let second = Kernels::default_for_cpu();
        let t = measured.table();
        assert_eq!(write_cache(&path, first, &t), Some(first));
        assert_eq!(read_cache(&path), Some(first));
        // A later writer gets the choice already there.
        assert_eq!(write_cache(&path, second, &t), Some(first));
        // An unreadable file is replaced.
        std::fs::write(&path, "{ not json").unwrap();
        assert_eq!(read_cache(&path), None);
        assert_eq!(write_cache(&path, second, &t), Some(second));
        assert_eq!(read_cache(&path), Some(second));
        // A file for another key is not read.
        let other = std::fs::read_to_string(&path)
            .unwrap()
            .replace("calibration", "calibration?");
        std::fs::write(&path, other).unwrap();
        assert_eq!(read_cache(&path), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
