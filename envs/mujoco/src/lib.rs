//! The MuJoCo physics adaptor: the few operations acgap's MuJoCo tasks need, as a C ABI.
//!
//! `acgap-envs` loads this library at run time (so the workspace builds and runs without
//! MuJoCo) and implements the tasks' Gymnasium semantics on top of it. This side only owns
//! the simulator: load a model, reset, set `qpos`/`qvel`, step with a control, read
//! positions, and save/restore the complete state. Every function takes raw pointers from
//! `acgap-envs`, which checks lengths against [`AcgapMjInfo`] before calling.
//!
//! The ABI version below changes whenever a signature or the snapshot layout changes; the
//! loader refuses an adaptor whose version differs from its own.

use mujoco_rs::mujoco_c as mj;
use std::ffi::{CStr, c_char, c_int};
use std::sync::Arc;

/// Version of this C ABI (functions, `AcgapMjInfo`, snapshot layout).
pub const ACGAP_MJ_ABI: u32 = 1;

/// Sizes of a loaded model.
#[repr(C)]
pub struct AcgapMjInfo {
    pub nq: u64,
    pub nv: u64,
    pub nu: u64,
    pub na: u64,
    pub nbody: u64,
    /// `opt.timestep`.
    pub timestep: f64,
    /// Length of a snapshot: MuJoCo's integration state, then `xpos` of every body.
    pub snapshot_len: u64,
}

/// The model, shared by every copy of a simulation (MuJoCo only reads it while stepping).
struct Model(*mut mj::mjModel);
// SAFETY: an mjModel is immutable after loading; concurrent reads are what MuJoCo supports.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: created by mj_loadXML, freed once, when the last simulation is gone.
        unsafe { mj::mj_deleteModel(self.0) }
    }
}

/// One simulation: the shared model and its own data.
pub struct AcgapMjSim {
    model: Arc<Model>,
    data: *mut mj::mjData,
}

impl Drop for AcgapMjSim {
    fn drop(&mut self) {
        // SAFETY: made by mj_makeData for this model, freed once.
        unsafe { mj::mj_deleteData(self.data) }
    }
}

/// MuJoCo's integration state: everything `mj_step` reads (time, qpos, qvel, act, warm
/// start, controls, applied forces, mocap, plugin and user data).
const INTEGRATION: c_int = mj::mjtState::mjSTATE_INTEGRATION as c_int;

impl AcgapMjSim {
    fn m(&self) -> *const mj::mjModel {
        self.model.0
    }
    fn info(&self) -> AcgapMjInfo {
        // SAFETY: a loaded model.
        let m = unsafe { &*self.model.0 };
        let integration = unsafe { mj::mj_stateSize(m, INTEGRATION) } as u64;
        AcgapMjInfo {
            nq: m.nq as u64,
            nv: m.nv as u64,
            nu: m.nu as u64,
            na: m.na as u64,
            nbody: m.nbody as u64,
            timestep: m.opt.timestep,
            snapshot_len: integration + 3 * m.nbody as u64,
        }
    }
}

/// Warnings go to our counters (`mjData.warning`), not to stdout and `MUJOCO_LOG.TXT`.
unsafe extern "C" fn quiet_warning(_msg: *const c_char) {}

#[unsafe(no_mangle)]
pub extern "C" fn acgap_mj_abi() -> u32 {
    ACGAP_MJ_ABI
}

/// The loaded MuJoCo library's version string (`mj_versionString`, e.g. "3.17.0").
#[unsafe(no_mangle)]
pub extern "C" fn acgap_mj_version() -> *const c_char {
    // SAFETY: no arguments; MuJoCo returns a static string.
    unsafe { mj::mj_versionString() }
}

/// Load an MJCF file. On failure returns null and writes MuJoCo's message into `err`.
///
/// # Safety
/// `path` is a NUL-terminated string; `err` has room for `err_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_load(
    path: *const c_char,
    err: *mut c_char,
    err_len: c_int,
) -> *mut AcgapMjSim {
    // SAFETY: MuJoCo's global hook; set before any simulation exists.
    unsafe { mj::mju_user_warning = Some(quiet_warning) };
    let model = unsafe { mj::mj_loadXML(path, std::ptr::null(), err, err_len) };
    if model.is_null() {
        return std::ptr::null_mut();
    }
    let data = unsafe { mj::mj_makeData(model) };
    if data.is_null() {
        unsafe { mj::mj_deleteModel(model) };
        return std::ptr::null_mut();
    }
    Box::into_raw(Box::new(AcgapMjSim {
        model: Arc::new(Model(model)),
        data,
    }))
}

/// A second simulation of the same model in the same state.
///
/// # Safety
/// `sim` came from `acgap_mj_load` or `acgap_mj_clone` and is not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_clone(sim: *const AcgapMjSim) -> *mut AcgapMjSim {
    let sim = unsafe { &*sim };
    let data = unsafe { mj::mj_makeData(sim.m()) };
    if data.is_null() {
        return std::ptr::null_mut();
    }
    unsafe { mj::mj_copyData(data, sim.m(), sim.data) };
    Box::into_raw(Box::new(AcgapMjSim {
        model: Arc::clone(&sim.model),
        data,
    }))
}

/// # Safety
/// `sim` came from this library and is freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_free(sim: *mut AcgapMjSim) {
    if !sim.is_null() {
        drop(unsafe { Box::from_raw(sim) });
    }
}

/// # Safety
/// `sim` is live; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_info(sim: *const AcgapMjSim, out: *mut AcgapMjInfo) {
    unsafe { out.write((*sim).info()) };
}

/// `qpos0` (nq values) and the actuators' control ranges (2 nu values: low, high; infinite
/// where an actuator is not control-limited).
///
/// # Safety
/// `sim` is live; `qpos0` has nq and `ctrlrange` 2 nu writable values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_defaults(
    sim: *const AcgapMjSim,
    qpos0: *mut f64,
    ctrlrange: *mut f64,
) {
    let m = unsafe { &*(*sim).m() };
    let (nq, nu) = (m.nq as usize, m.nu as usize);
    unsafe {
        std::ptr::copy_nonoverlapping(m.qpos0, qpos0, nq);
        for i in 0..nu {
            let limited = *m.actuator_ctrllimited.add(i);
            let (lo, hi) = if limited {
                (*m.actuator_ctrlrange.add(2 * i), *m.actuator_ctrlrange.add(2 * i + 1))
            } else {
                (f64::NEG_INFINITY, f64::INFINITY)
            };
            *ctrlrange.add(2 * i) = lo;
            *ctrlrange.add(2 * i + 1) = hi;
        }
    }
}

/// The id of a body by name, or -1.
///
/// # Safety
/// `sim` is live; `name` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_body(sim: *const AcgapMjSim, name: *const c_char) -> c_int {
    let _ = unsafe { CStr::from_ptr(name) };
    unsafe { mj::mj_name2id((*sim).m(), mj::mjtObj::mjOBJ_BODY as c_int, name) }
}

/// `mj_resetData`, then `qpos`, `qvel` set, activations cleared, and `mj_forward` (as
/// Gymnasium's `reset` + `set_state`).
///
/// # Safety
/// `sim` is live; `qpos` has nq and `qvel` nv values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_reset_to(
    sim: *mut AcgapMjSim,
    qpos: *const f64,
    qvel: *const f64,
) {
    let sim = unsafe { &mut *sim };
    let m = unsafe { &*sim.m() };
    unsafe {
        mj::mj_resetData(m, sim.data);
        let d = &mut *sim.data;
        std::ptr::copy_nonoverlapping(qpos, d.qpos, m.nq as usize);
        std::ptr::copy_nonoverlapping(qvel, d.qvel, m.nv as usize);
        mj::mj_forward(m, sim.data);
    }
}

/// Set the controls and take `nstep` physics steps (Gymnasium's `do_simulation`; its
/// trailing `mj_rnePostConstraint` only fills contact-force fields that none of acgap's tasks
/// read and the next step recomputes, so it is skipped). Returns the number of bad-acceleration warnings MuJoCo
/// raised during these steps (it resets the state when that happens): nonzero means the
/// physics blew up.
///
/// # Safety
/// `sim` is live; `ctrl` has nu values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_step(
    sim: *mut AcgapMjSim,
    ctrl: *const f64,
    nstep: c_int,
) -> c_int {
    let sim = unsafe { &mut *sim };
    let m = unsafe { &*sim.m() };
    let bad = mj::mjtWarning::mjWARN_BADQACC as usize;
    unsafe {
        let d = &mut *sim.data;
        std::ptr::copy_nonoverlapping(ctrl, d.ctrl, m.nu as usize);
        let before = d.warning[bad].number;
        for _ in 0..nstep {
            mj::mj_step(m, sim.data);
        }
        (*sim.data).warning[bad].number - before
    }
}

/// Current `qpos` (nq) and `qvel` (nv).
///
/// # Safety
/// `sim` is live; the outputs have nq and nv writable values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_qpos_qvel(sim: *const AcgapMjSim, qpos: *mut f64, qvel: *mut f64) {
    let sim = unsafe { &*sim };
    let m = unsafe { &*sim.m() };
    unsafe {
        let d = &*sim.data;
        std::ptr::copy_nonoverlapping(d.qpos, qpos, m.nq as usize);
        std::ptr::copy_nonoverlapping(d.qvel, qvel, m.nv as usize);
    }
}

/// `xpos` of one body (3 values): its frame's position from the last forward pass.
///
/// # Safety
/// `sim` is live; `body` is a valid body id; `out` has 3 writable values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_xpos(sim: *const AcgapMjSim, body: c_int, out: *mut f64) {
    unsafe {
        let d = &*(*sim).data;
        std::ptr::copy_nonoverlapping(d.xpos.add(3 * body as usize), out, 3);
    }
}

/// Write the complete state (`snapshot_len` values): the integration state, then `xpos` of
/// every body, since Gymnasium reads positions computed before the last integration step,
/// which the integration state alone cannot reproduce.
///
/// # Safety
/// `sim` is live; `out` has `snapshot_len` writable values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_snapshot(sim: *const AcgapMjSim, out: *mut f64) {
    let sim = unsafe { &*sim };
    let m = unsafe { &*sim.m() };
    unsafe {
        let n = mj::mj_stateSize(m, INTEGRATION) as usize;
        mj::mj_getState(m, sim.data, out, INTEGRATION);
        std::ptr::copy_nonoverlapping((*sim.data).xpos, out.add(n), 3 * m.nbody as usize);
    }
}

/// Restore a state written by `acgap_mj_snapshot` of the same model.
///
/// # Safety
/// `sim` is live; `state` has `snapshot_len` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn acgap_mj_restore(sim: *mut AcgapMjSim, state: *const f64) {
    let sim = unsafe { &mut *sim };
    let m = unsafe { &*sim.m() };
    unsafe {
        let n = mj::mj_stateSize(m, INTEGRATION) as usize;
        mj::mj_setState(m, sim.data, state, INTEGRATION);
        std::ptr::copy_nonoverlapping(state.add(n), (*sim.data).xpos, 3 * m.nbody as usize);
    }
}
