//! Upfront size checks: a config or env option that would need more memory than the machine
//! has is refused with the estimate in the message, before anything is allocated (an
//! allocation failure aborts the process, and with it every run of a session).

/// Bytes the OS says can be allocated now (Linux `MemAvailable`), if it says.
pub fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `Err` naming `what` and the estimate if `bytes` exceeds what is available (or 1 TiB where
/// the OS does not say).
pub fn check(what: &str, bytes: f64) -> Result<(), String> {
    let limit = available_bytes().map_or(1u64 << 40, |b| b) as f64;
    if bytes.is_finite() && bytes <= limit {
        return Ok(());
    }
    let gib = |b: f64| b / (1u64 << 30) as f64;
    Err(format!(
        "{what} needs about {:.1} GiB of memory; {:.1} GiB are available",
        gib(bytes),
        gib(limit)
    ))
}

/// Memory of training an MLP with these layer sizes: weights, gradients and two Adam moments
/// in f32, plus activations for `batch` rows.
pub fn mlp_training_bytes(sizes: &[usize], batch: usize) -> f64 {
    let params: f64 = sizes
        .windows(2)
        .map(|w| (w[0] as f64 + 1.0) * w[1] as f64)
        .sum();
    let activations: f64 = sizes.iter().map(|&s| s as f64).sum::<f64>() * batch as f64;
    4.0 * (4.0 * params + 3.0 * activations)
}

/// [`check`] for `count` networks of `in -> hidden -> out` (inputs and outputs counted as 64
/// wide, which only matters for tiny nets) trained on batches of `batch` rows.
pub fn check_networks(
    what: &str,
    hidden: &[usize],
    batch: usize,
    count: usize,
) -> Result<(), String> {
    let mut sizes = vec![64];
    sizes.extend(hidden);
    sizes.push(64);
    check(
        &format!("{what} with `hidden` = {hidden:?} on batches of {batch}"),
        count as f64 * mlp_training_bytes(&sizes, batch),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_absurd_network_is_refused_with_its_size() {
        let bytes = super::mlp_training_bytes(&[3, 100_000_000, 1], 256);
        let err = super::check("the network", bytes).unwrap_err();
        assert!(err.contains("GiB"), "{err}");
        assert!(super::check("a small one", super::mlp_training_bytes(&[3, 64, 1], 32)).is_ok());
    }
}
