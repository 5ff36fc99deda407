//! What a run or session writes: folders it owns and locks (`folder`), the run directory's
//! logs and status (`run_dir`), its TensorBoard event file (`tensorboard`), and the plots
//! drawn from them (`plot`).

pub mod folder;
pub mod plot;
pub mod run_dir;
pub mod tensorboard;
