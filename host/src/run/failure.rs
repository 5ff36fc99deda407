//! How a run ends early: the failure a step of the loop returns, and the two common kinds
//! (an env fault, an I/O error). `Trainer::finish` writes it into `status.json`.

use crate::output::run_dir::RunState;
use acgap_envs::Fault;

/// How a run ended early.
#[derive(Debug)]
pub struct RunFailure {
    pub state: RunState,
    pub message: String,
}

/// The env could not continue: its simulation blew up (the run diverged) or the env itself
/// failed (the run failed).
pub(super) fn env_fault(fault: Fault, step: usize) -> RunFailure {
    match fault {
        Fault::Diverged(why) => RunFailure {
            state: RunState::Diverged,
            message: format!("diverged: {why} at step {step}"),
        },
        Fault::Failed(why) => RunFailure {
            state: RunState::Failed,
            message: format!("the environment failed at step {step}: {why}"),
        },
    }
}

pub(super) fn io_failure(message: String) -> RunFailure {
    RunFailure {
        state: RunState::Failed,
        message,
    }
}
