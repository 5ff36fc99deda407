//! The adaptor finds `libmujoco.so.<version>` in its own folder, where `scripts/setup-mujoco`
//! puts both, so nothing depends on LD_LIBRARY_PATH.
fn main() {
    println!("cargo::rustc-link-arg=-Wl,-rpath,$ORIGIN");
}
