//! Counts typed on the command line, bounded: the one parser every such flag goes through.

/// The one parser of the counts typed on the command line (episodes, iterations, batches,
/// seeds, jobs, steps): a whole number in `MIN..=MAX`, else refused before anything runs
/// (exit 2, naming the flag and the bounds). Run settings, whether typed or in a session
/// file, are bounded once more by `RunSettings::check` and session files by
/// `SessionSpec::check`.
pub fn count<const MIN: u64, const MAX: u64, T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    let bounds = format!("a whole number at least {MIN} and at most {MAX}");
    let value: u64 = text.trim().parse().map_err(|_| bounds.clone())?;
    if !(MIN..=MAX).contains(&value) {
        return Err(bounds);
    }
    T::try_from(value).map_err(|_| bounds)
}
