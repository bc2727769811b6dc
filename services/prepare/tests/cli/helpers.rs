//! Runs the real `prepare` binary in a scratch directory.

use std::path::PathBuf;
use std::process::Command;

use waveplot_protocol::Blob;

/// A finished `prepare analyze` run.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stderr: String,
    pub out: PathBuf,
    json_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Run {
    pub fn assert_ok(&self) {
        assert!(self.status.success(), "prepare failed:\n{}", self.stderr);
    }

    pub fn assert_fails_with(&self, text: &str) {
        assert!(!self.status.success(), "prepare should have failed");
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
    }

    pub fn blob(&self) -> Blob {
        Blob::decode(&std::fs::read(&self.out).unwrap()).unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&self.json_path).unwrap()).unwrap()
    }
}

/// Path of a file in the repository's `data/`.
pub fn data(name: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name);
    root.to_str().unwrap().to_owned()
}

/// Runs `prepare analyze ARGS --out DIR/a.msgpack --json DIR/a.json`.
pub fn analyze(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.msgpack");
    let json_path = dir.path().join("a.json");
    let output = Command::new(env!("CARGO_BIN_EXE_prepare"))
        .arg("analyze")
        .args(args)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(&json_path)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    Run {
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        out,
        json_path,
        _dir: dir,
    }
}

/// A JSON array of numbers as f64s.
pub fn json_of(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
