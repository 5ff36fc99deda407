//! SIGINT and SIGTERM end a run cleanly: the trainer finishes its iteration, writes a
//! checkpoint, marks the run `interrupted` and the process exits with 128 + the signal
//! (130 / 143). A second signal ends the process at once, with the same code; the last
//! checkpoint is still complete (checkpoints are swapped in by renames).

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// Install the handlers (once per process).
pub fn install() -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let received = RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    let seen = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so it sees `seen` as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&seen))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&seen)))
            .and_then(|_| {
                signal_hook::flag::register_usize(sig, Arc::clone(received), sig as usize)
            })
            .map_err(|e| format!("cannot install the signal handlers: {e}"))?;
    }
    Ok(())
}

/// The signal asking this process to stop, if one arrived.
pub fn requested() -> Option<i32> {
    match RECEIVED.get()?.load(Ordering::Relaxed) {
        0 => None,
        sig => Some(sig as i32),
    }
}

/// The signal's name for messages.
pub fn name(sig: i32) -> &'static str {
    match sig {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
