//! One master seed, independent streams: each consumer gets its own seed derived
//! by name, so adding a consumer never shifts another's stream. The host derives
//! the env, eval-env, replay, warm-up and plugin streams this way; a correction
//! receives its agent's seed and derives its own streams from it with a name of its
//! own, so the same correction compiled into a plugin or loaded with `--correction`
//! starts identically.

/// SplitMix64 finaliser over the master seed mixed with the stream name (FNV-1a).
pub fn derive(master: u64, stream: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = master ^ h;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    #[test]
    fn streams_differ_and_are_stable() {
        let a = super::derive(0, "env");
        assert_ne!(a, super::derive(0, "eval_env"));
        assert_ne!(a, super::derive(1, "env"));
        assert_eq!(a, super::derive(0, "env"));
    }
}
