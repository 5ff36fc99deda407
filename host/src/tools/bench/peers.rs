//! `host bench --peers`: acgap's SAC training loop against SBX (JAX) and Stable-Baselines3
//! (PyTorch), one core each, timed in turn in one run by `scripts/peers/sac_speed.py` (embedded
//! here and run with the Python that `scripts/setup-peers` installed).

use serde_json::Value;

/// The Python with the peers: `$ACGAP_PEERS_PYTHON`, else scripts/setup-peers' venv.
fn python() -> Result<String, String> {
    if let Ok(p) = std::env::var("ACGAP_PEERS_PYTHON") {
        return Ok(p);
    }
    let p = acgap_envs::install_home("ACGAP_PEERS_HOME", "peers").join("bin/python");
    if p.exists() {
        Ok(p.to_string_lossy().into_owned())
    } else {
        Err(format!(
            "no Python with the peers at `{}`: run scripts/setup-peers (or set ACGAP_PEERS_PYTHON)",
            p.display()
        ))
    }
}

/// Run the comparison; returns the script's JSON.
pub fn measure(quick: bool) -> Result<Value, String> {
    let python = python()?;
    let host = std::env::current_exe().map_err(|e| format!("cannot find this host: {e}"))?;
    let dir = std::env::temp_dir().join(format!("acgap-peers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let script = dir.join("sac_speed.py");
    std::fs::write(
        &script,
        include_str!("../../../../scripts/peers/sac_speed.py"),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(&script).arg("--host").arg(&host);
    if quick {
        cmd.arg("--quick");
    }
    eprintln!("timing SAC: acgap, SBX and SB3 in turn, one core each ...");
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run `{python}`: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    if !out.status.success() {
        return Err(format!("the peers' timing script failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    let mut report: Value = serde_json::from_str(last)
        .map_err(|e| format!("the peers' timing script printed `{last}`: {e}"))?;
    report["cpu"] = serde_json::to_value(super::cpu::Cpu::here()).map_err(|e| e.to_string())?;
    Ok(report)
}

pub fn print(r: &Value) {
    println!(
        "CPU: {} ({})",
        r["cpu"]["model"].as_str().unwrap_or("unknown"),
        (r["cpu"]["isa"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(k) = r["acgap_kernels"].as_str() {
        println!(
            "acgap's fused CPU path ran on: {k} ({})",
            super::kernels_source()
        );
    }
    println!(
        "SAC training loop on Pendulum-v1, updates/s, one core each (core {}), median of {} in turn:",
        r["core"], r["rows"][0]["reps"]
    );
    println!(
        "  {:30} {:>8} {:>8} {:>8} {:>12} {:>12}",
        "net", "acgap", "SBX", "SB3", "acgap/SBX", "acgap/SB3"
    );
    for row in r["rows"].as_array().into_iter().flatten() {
        let u = &row["updates_per_s"];
        let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
        println!(
            "  {:30} {:>8.0} {:>8.0} {:>8.0} {:>11.2}x {:>11.2}x",
            row["net"].as_str().unwrap_or("?"),
            f(&u["acgap"]),
            f(&u["sbx"]),
            f(&u["sb3"]),
            f(&row["acgap_vs_sbx"]),
            f(&row["acgap_vs_sb3"])
        );
    }
    println!("  versions: {}", r["versions"]);
}
