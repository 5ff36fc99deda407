//! The CPU a benchmark ran on, named beside every figure: speed differs between machines of
//! one kind (an AMD EPYC and an Intel Xeon with AVX-512 gave 1.7x and 1.1x SBX at 2 x 256).

use serde::Serialize;

/// The CPU's model and the vector instruction sets that matter to the kernels.
#[derive(Serialize, Clone, Debug)]
pub struct Cpu {
    pub model: String,
    /// Of SSE4.2, AVX, AVX2, FMA and the AVX-512 subsets, those this CPU has.
    pub isa: Vec<String>,
}

/// The instruction sets reported, in the order printed (names as in /proc/cpuinfo).
const ISA: [&str; 10] = [
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
];

impl Cpu {
    /// This machine's CPU, from /proc/cpuinfo (Linux); "unknown" elsewhere.
    pub fn here() -> Cpu {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            info.lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        };
        let flags = field("flags").unwrap_or_default();
        let flags: Vec<&str> = flags.split_whitespace().collect();
        Cpu {
            model: field("model name").unwrap_or_else(|| "unknown".into()),
            isa: ISA
                .iter()
                .filter(|f| flags.contains(f))
                .map(|f| f.to_string())
                .collect(),
        }
    }
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.model, self.isa.join(", "))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_cpu_is_named_with_its_instruction_sets() {
        let cpu = super::Cpu::here();
        if cfg!(target_os = "linux") {
            assert_ne!(cpu.model, "unknown");
        }
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            cpu.isa.iter().any(|f| f == "avx2"),
            std::is_x86_feature_detected!("avx2"),
            "{cpu}"
        );
    }
}
