//! The fault suite in CI: the bench binary runs `--faults-only --quick` against a stack
//! of the debug binaries it starts itself (next to it in the target directory), and
//! no request may hang or end without a reason, and every service must recover.

use std::process::Command;
use std::time::Instant;

use serde_json::Value;

#[test]
fn under_faults_no_render_hangs_and_every_service_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("faults.json");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_waveplot-bench"))
        .args(["--faults-only", "--quick", "--json"])
        .arg(&report)
        .output()
        .expect("run waveplot-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\nfault suite: {:?}", started.elapsed());
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let f = &json["faults"];
    assert_eq!(f["hung"], 0, "{f:#}");
    assert_eq!(f["unexplained"], 0, "{f:#}");
    assert_eq!(f["recovered"], true, "{f:#}");
    let count = |k: &str| f[k].as_u64().unwrap();
    assert!(count("complete") > 0, "{f:#}");
    assert_eq!(
        count("sent"),
        count("complete")
            + count("failed")
            + count("refused")
            + count("unexplained")
            + count("hung"),
        "{f:#}"
    );
}
