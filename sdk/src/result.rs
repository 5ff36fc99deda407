//! The two plain types every part of the plugin interface shares.

/// Named scalar metrics, e.g. `("train/critic_loss", 0.3)`.
pub type Metrics = Vec<(String, f64)>;

/// Errors crossing the plugin boundary are plain messages.
pub type PluginResult<T> = Result<T, String>;

/// Why a plugin's error ended a run: the host marks the run `failed` or `diverged`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Any error: a bad config, a bug, a refused input.
    Failed,
    /// The learning blew up: a non-finite loss, objective or output.
    Diverged,
}

/// The marker of a divergence. Errors cross the plugin boundary as strings (the ABI's error
/// type), so the kind travels in the message; [`diverged`] writes it and [`error_kind`] reads
/// it, and nothing else in acgap looks at message text.
const DIVERGED: &str = "diverged: ";

/// The error of a learning step that blew up, e.g. `diverged(format!("critic loss is {v}"))`.
pub fn diverged(what: impl std::fmt::Display) -> String {
    format!("{DIVERGED}{what}")
}

/// The kind of a plugin's error message.
pub fn error_kind(message: &str) -> ErrorKind {
    if message.starts_with(DIVERGED) {
        ErrorKind::Diverged
    } else {
        ErrorKind::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_divergence_is_told_from_other_errors() {
        assert_eq!(
            error_kind(&diverged("critic loss is NaN")),
            ErrorKind::Diverged
        );
        assert_eq!(error_kind("invalid config: unknown key"), ErrorKind::Failed);
        // Only the marker counts, not the word somewhere in a message.
        assert_eq!(
            error_kind("the run has not diverged: bad input"),
            ErrorKind::Failed
        );
    }
}
