//! `examples/slurm/acgap-array.sbatch` against a real single-node Slurm: slurmctld and slurmd
//! are started on localhost (own ports, own state folder, no munge), a session file is submitted
//! as a 2-task job array, and the merged report must equal that of the same session run locally.
//!
//! Skipped with a message where Slurm is not installed (`apt-get install slurm-wlm`); `.ci/run`
//! installs it and sets `ACGAP_REQUIRE_SLURM=1`, which turns the skip into a failure.

mod common;
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The two daemons, killed when the test ends however it ends.
struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn installed(program: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .any(|d| Path::new(d).join(program).is_file())
}

fn start_cluster(dir: &Path) -> (Daemons, std::path::PathBuf) {
    for sub in ["state", "spool"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let d = dir.display();
    let conf = dir.join("slurm.conf");
    std::fs::write(
        &conf,
        format!(
            "ClusterName=acgaptest\nSlurmctldHost=localhost\nSlurmctldPort={}\nSlurmdPort={}\n\
             AuthType=auth/none\nCredType=cred/none\nSlurmUser=root\nSlurmdUser=root\n\
             StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
             JobCompType=jobcomp/none\nSchedulerType=sched/builtin\nSelectType=select/cons_tres\n\
             SelectTypeParameters=CR_CPU\nMpiDefault=none\nReturnToService=2\n\
             NodeName=acgapnode NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\n\
             PartitionName=acgap Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let spawn = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .env("SLURM_CONF", &conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
    };
    let daemons = Daemons(vec![
        spawn("slurmctld", &["-D", "-i"]),
        spawn("slurmd", &["-D", "-N", "acgapnode"]),
    ]);
    let start = Instant::now();
    loop {
        let out = Command::new("sinfo")
            .args(["-h", "-o", "%T"])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).trim() == "idle" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the test cluster did not come up; see {d}/slurmctld.log and {d}/slurmd.log"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (daemons, conf)
}

const SESSION: &str = r#"{
  "name": "slurm",
  "seeds": 2,
  "settings": {"env": "pendulum", "steps": 900, "eval_every": 300, "eval_episodes": 2,
               "log_every": 300, "checkpoint_every": 300},
  "plugins": [
    {"plugin": "sac", "label": "SAC-1-0",
     "set": {"learning_starts": 300, "batch_size": 32, "hidden": [32, 32]}},
    {"plugin": "sac", "label": "SAC-2-0",
     "set": {"learning_starts": 300, "batch_size": 32, "hidden": [32, 32], "schedule": "2-0"}}
  ]
}"#;

#[test]
fn job_array_script_runs_a_sharded_session_on_slurm() {
    if !installed("slurmctld") || !installed("slurmd") || !installed("sbatch") {
        assert!(
            std::env::var_os("ACGAP_REQUIRE_SLURM").is_none(),
            "ACGAP_REQUIRE_SLURM is set but Slurm is not installed"
        );
        eprintln!("skipped: Slurm is not installed (apt-get install slurm-wlm to run this test)");
        return;
    }
    let tmp = tempdir::Dir::new();
    let (_daemons, conf) = start_cluster(&tmp.path().join("cluster"));
    let file = tmp.path().join("slurm-session.json");
    std::fs::write(&file, SESSION).unwrap();
    let sharded = tmp.path().join("sharded");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/slurm/acgap-array.sbatch");
    let out = Command::new("sbatch")
        .args(["--wait", "--array=0-1", "--output"])
        .arg(tmp.path().join("slurm-%a.out"))
        .arg(&script)
        .arg(&file)
        .arg(&sharded)
        .current_dir(tmp.path())
        .env("SLURM_CONF", &conf)
        .env("ACGAP_HOST", host_bin())
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .output()
        .unwrap();
    let logs: String = (0..2)
        .map(|i| {
            std::fs::read_to_string(tmp.path().join(format!("slurm-{i}.out"))).unwrap_or_default()
        })
        .collect();
    assert!(
        out.status.success(),
        "sbatch failed:\n{}\n{}\ntask logs:\n{logs}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Both array tasks ran, each its own shard.
    assert!(logs.contains("2 runs here"), "{logs}");

    let report = Command::new(host_bin())
        .args(["report"])
        .arg(&sharded)
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let local = tmp.path().join("local");
    let whole = Command::new(host_bin())
        .args(["session"])
        .arg(&file)
        .arg("--out")
        .arg(&local)
        .arg("--quiet")
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .output()
        .unwrap();
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    assert_eq!(
        summary_without_timing(&sharded),
        summary_without_timing(&local)
    );
    assert!(read(&sharded.join("summary.md")).contains("| SAC-2-0 | 2/2 |"));
}
