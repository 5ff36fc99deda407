//! The MuJoCo adaptor (`envs/mujoco`, built by `scripts/setup-mujoco`) loaded at run time,
//! and [`Sim`], one simulation behind its C ABI.

use super::install::{self, Install, MUJOCO_VERSION, SETUP_COMMAND};
use std::ffi::{CString, c_char, c_int, c_void};
use std::path::Path;
use std::sync::OnceLock;

/// Must equal `ACGAP_MJ_ABI` in `envs/mujoco/src/lib.rs`.
const ADAPTOR_ABI: u32 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Info {
    pub nq: u64,
    pub nv: u64,
    pub nu: u64,
    pub na: u64,
    pub nbody: u64,
    pub timestep: f64,
    pub snapshot_len: u64,
}

type Ptr = *mut c_void;

/// The adaptor's functions (see `envs/mujoco/src/lib.rs` for what each does).
struct Api {
    load: unsafe extern "C" fn(*const c_char, *mut c_char, c_int) -> Ptr,
    clone: unsafe extern "C" fn(Ptr) -> Ptr,
    free: unsafe extern "C" fn(Ptr),
    info: unsafe extern "C" fn(Ptr, *mut Info),
    defaults: unsafe extern "C" fn(Ptr, *mut f64, *mut f64),
    body: unsafe extern "C" fn(Ptr, *const c_char) -> c_int,
    reset_to: unsafe extern "C" fn(Ptr, *const f64, *const f64),
    step: unsafe extern "C" fn(Ptr, *const f64, c_int) -> c_int,
    qpos_qvel: unsafe extern "C" fn(Ptr, *mut f64, *mut f64),
    xpos: unsafe extern "C" fn(Ptr, c_int, *mut f64),
    snapshot: unsafe extern "C" fn(Ptr, *mut f64),
    restore: unsafe extern "C" fn(Ptr, *const f64),
}

/// The installation and the adaptor's functions, loaded once per process.
pub struct Adaptor {
    pub install: Install,
    api: Api,
    _lib: libloading::Library,
}

/// The adaptor, or why MuJoCo tasks are unavailable.
pub fn adaptor() -> Result<&'static Adaptor, String> {
    static ADAPTOR: OnceLock<Result<Adaptor, String>> = OnceLock::new();
    ADAPTOR.get_or_init(open).as_ref().map_err(Clone::clone)
}

fn open() -> Result<Adaptor, String> {
    let install = install::find()?;
    let path = &install.adaptor;
    let rerun = format!("run `{SETUP_COMMAND}` again");
    // SAFETY: the adaptor has no initialisers; it links only MuJoCo.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
        format!(
            "the MuJoCo adaptor `{}` cannot be loaded ({e}); {rerun}.",
            path.display()
        )
    })?;
    // SAFETY: each symbol is read with the signature the adaptor defines for it (same names,
    // same types in envs/mujoco/src/lib.rs; ADAPTOR_ABI changes when any of them does).
    let sym = |name: &str| -> Result<*const c_void, String> {
        unsafe { lib.get::<*const c_void>(name.as_bytes()) }
            .map(|s| *s)
            .map_err(|e| {
                format!(
                    "`{}` is not an acgap MuJoCo adaptor ({e}); {rerun}.",
                    path.display()
                )
            })
    };
    fn typed<T: Copy>(lib: &libloading::Library, name: &str) -> T {
        // SAFETY: see above; `name` was found by `sym` first.
        unsafe { *lib.get::<T>(name.as_bytes()).expect("symbol checked") }
    }
    for name in [
        "acgap_mj_abi",
        "acgap_mj_version",
        "acgap_mj_load",
        "acgap_mj_clone",
        "acgap_mj_free",
        "acgap_mj_info",
        "acgap_mj_defaults",
        "acgap_mj_body",
        "acgap_mj_reset_to",
        "acgap_mj_step",
        "acgap_mj_qpos_qvel",
        "acgap_mj_xpos",
        "acgap_mj_snapshot",
        "acgap_mj_restore",
    ] {
        sym(name)?;
    }
    let abi = typed::<unsafe extern "C" fn() -> u32>(&lib, "acgap_mj_abi");
    // SAFETY: no arguments.
    let abi = unsafe { abi() };
    if abi != ADAPTOR_ABI {
        return Err(format!(
            "the MuJoCo adaptor `{}` speaks ABI {abi}, this host {ADAPTOR_ABI}: it was built from another acgap version; {rerun}.",
            path.display()
        ));
    }
    let version = typed::<unsafe extern "C" fn() -> *const c_char>(&lib, "acgap_mj_version");
    // SAFETY: MuJoCo's static version string.
    let v = unsafe { std::ffi::CStr::from_ptr(version()) }
        .to_string_lossy()
        .into_owned();
    if v != MUJOCO_VERSION {
        return Err(format!(
            "the MuJoCo library next to `{}` is version {v}, but acgap is built for MuJoCo {MUJOCO_VERSION}; {rerun}.",
            path.display()
        ));
    }
    let api = Api {
        load: typed(&lib, "acgap_mj_load"),
        clone: typed(&lib, "acgap_mj_clone"),
        free: typed(&lib, "acgap_mj_free"),
        info: typed(&lib, "acgap_mj_info"),
        defaults: typed(&lib, "acgap_mj_defaults"),
        body: typed(&lib, "acgap_mj_body"),
        reset_to: typed(&lib, "acgap_mj_reset_to"),
        step: typed(&lib, "acgap_mj_step"),
        qpos_qvel: typed(&lib, "acgap_mj_qpos_qvel"),
        xpos: typed(&lib, "acgap_mj_xpos"),
        snapshot: typed(&lib, "acgap_mj_snapshot"),
        restore: typed(&lib, "acgap_mj_restore"),
    };
    Ok(Adaptor {
        install,
        api,
        _lib: lib,
    })
}

/// One MuJoCo simulation. Copies share the model and own their data.
pub struct Sim {
    ptr: Ptr,
    api: &'static Api,
    pub info: Info,
}

// SAFETY: a simulation's data is used by one thread at a time; the shared model is read-only.
unsafe impl Send for Sim {}

impl Sim {
    /// Load an MJCF file.
    pub fn load(xml: &Path) -> Result<Sim, String> {
        let adaptor = adaptor()?;
        let c_path = CString::new(xml.to_string_lossy().as_bytes())
            .map_err(|_| format!("model path `{}` contains a NUL byte", xml.display()))?;
        if !xml.is_file() {
            return Err(format!(
                "MuJoCo model file `{}` does not exist",
                xml.display()
            ));
        }
        let mut err = vec![0u8; 1000];
        // SAFETY: NUL-terminated path; `err` has the stated room.
        let ptr = unsafe { (adaptor.api.load)(c_path.as_ptr(), err.as_mut_ptr().cast(), 1000) };
        if ptr.is_null() {
            let msg =
                String::from_utf8_lossy(&err[..err.iter().position(|&b| b == 0).unwrap_or(0)])
                    .trim()
                    .to_string();
            return Err(format!(
                "MuJoCo cannot load `{}`: {}",
                xml.display(),
                if msg.is_empty() { "no message" } else { &msg }
            ));
        }
        let mut info = Info::default();
        // SAFETY: a live simulation.
        unsafe { (adaptor.api.info)(ptr, &mut info) };
        Ok(Sim {
            ptr,
            api: &adaptor.api,
            info,
        })
    }

    /// `qpos0` and the control range (low, high per actuator).
    pub fn defaults(&self) -> (Vec<f64>, Vec<f64>) {
        let mut qpos0 = vec![0.0; self.info.nq as usize];
        let mut range = vec![0.0; 2 * self.info.nu as usize];
        // SAFETY: buffers of the sizes the model reports.
        unsafe { (self.api.defaults)(self.ptr, qpos0.as_mut_ptr(), range.as_mut_ptr()) };
        (qpos0, range)
    }

    pub fn body(&self, name: &str) -> Result<c_int, String> {
        let c = CString::new(name).expect("body names have no NUL");
        // SAFETY: live simulation, NUL-terminated name.
        let id = unsafe { (self.api.body)(self.ptr, c.as_ptr()) };
        if id < 0 {
            Err(format!("the model has no body named `{name}`"))
        } else {
            Ok(id)
        }
    }

    /// Reset the data and set `qpos`, `qvel` (then a forward pass).
    pub fn reset_to(&mut self, qpos: &[f64], qvel: &[f64]) {
        assert_eq!(qpos.len(), self.info.nq as usize);
        assert_eq!(qvel.len(), self.info.nv as usize);
        // SAFETY: lengths checked.
        unsafe { (self.api.reset_to)(self.ptr, qpos.as_ptr(), qvel.as_ptr()) }
    }

    /// `nstep` physics steps under `ctrl`; the number of bad-acceleration warnings raised.
    pub fn step(&mut self, ctrl: &[f64], nstep: usize) -> u32 {
        assert_eq!(ctrl.len(), self.info.nu as usize);
        // SAFETY: length checked.
        unsafe { (self.api.step)(self.ptr, ctrl.as_ptr(), nstep as c_int) as u32 }
    }

    /// Current `qpos` and `qvel` into the given buffers.
    pub fn qpos_qvel(&self, qpos: &mut [f64], qvel: &mut [f64]) {
        assert_eq!(qpos.len(), self.info.nq as usize);
        assert_eq!(qvel.len(), self.info.nv as usize);
        // SAFETY: lengths checked.
        unsafe { (self.api.qpos_qvel)(self.ptr, qpos.as_mut_ptr(), qvel.as_mut_ptr()) }
    }

    /// A body's frame position from the last forward pass.
    pub fn xpos(&self, body: c_int) -> [f64; 3] {
        assert!((body as u64) < self.info.nbody);
        let mut out = [0.0; 3];
        // SAFETY: valid body id.
        unsafe { (self.api.xpos)(self.ptr, body, out.as_mut_ptr()) };
        out
    }

    /// The complete simulator state.
    pub fn snapshot(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.info.snapshot_len as usize];
        // SAFETY: buffer of the reported length.
        unsafe { (self.api.snapshot)(self.ptr, out.as_mut_ptr()) };
        out
    }

    pub fn restore(&mut self, state: &[f64]) -> Result<(), String> {
        if state.len() != self.info.snapshot_len as usize {
            return Err(format!(
                "MuJoCo snapshot has {} values; this model's state has {}",
                state.len(),
                self.info.snapshot_len
            ));
        }
        // SAFETY: length checked.
        unsafe { (self.api.restore)(self.ptr, state.as_ptr()) };
        Ok(())
    }
}

impl Clone for Sim {
    fn clone(&self) -> Self {
        // SAFETY: live simulation.
        let ptr = unsafe { (self.api.clone)(self.ptr) };
        assert!(
            !ptr.is_null(),
            "MuJoCo could not allocate a copy of the simulation"
        );
        Sim {
            ptr,
            api: self.api,
            info: self.info,
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // SAFETY: freed once.
        unsafe { (self.api.free)(self.ptr) }
    }
}
