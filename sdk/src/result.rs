//! The two plain types every part of the plugin interface shares.

/// Named scalar metrics, e.g. `("train/critic_loss", 0.3)`.
pub type Metrics = Vec<(String, f64)>;

/// Errors crossing the plugin boundary are plain messages.
pub type PluginResult<T> = Result<T, String>;
