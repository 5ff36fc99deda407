//! SIGINT and SIGTERM end a run cleanly: the trainer finishes its iteration, writes a
//! checkpoint, marks the run `interrupted` and the process exits with 128 + the signal
//! (130 / 143). A second signal ends the process at once, with the same code; the last
//! checkpoint is still complete (checkpoints are swapped in by renames).
//!
//! Only phases that look for the signal catch it (a training loop, a session's runs, each
//! holding a [`Catching`] guard); in every other phase (an evaluation, a scorecard, the DP
//! experiments, reading a config, an env being made) the first signal ends the process at
//! once with 128 + the signal, so `timeout N host ...` and Ctrl-C work everywhere. Those
//! phases write their files atomically, so nothing half-written is left.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// True while no phase that stops cleanly is running: a signal then ends the process.
static IMMEDIATE: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn immediate() -> &'static Arc<AtomicBool> {
    IMMEDIATE.get_or_init(|| Arc::new(AtomicBool::new(true)))
}

/// Held by a phase that checks [`requested`] often and stops cleanly: while it lives, a
/// first signal is recorded instead of ending the process.
pub struct Catching {
    previous: bool,
}

/// Catch signals until the guard is dropped (guards nest: a session's runs inside it).
pub fn catching() -> Catching {
    Catching {
        previous: immediate().swap(false, Ordering::SeqCst),
    }
}

impl Drop for Catching {
    fn drop(&mut self) {
        immediate().store(self.previous, Ordering::SeqCst);
    }
}

/// Install the handlers (once per process).
pub fn install() -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let received = RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    let seen = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Outside a catching phase: end now.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(immediate()))
            .map_err(|e| format!("cannot install the signal handlers: {e}"))?;
        // Registered before `seen` is set, so it sees `seen` as the previous signal left it.
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
