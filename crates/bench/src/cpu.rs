//! CPU per render: what every process of the stack (nats-server and the S3 server
//! included) spends on one cold render through the bus, against what one
//! `plotter render --all` process spends drawing the same six charts from a blob file.
//! Their ratio is the bus's overhead: 1.0 would mean that the bus, the store and the
//! services cost nothing beyond the drawing.
//!
//! CPU time is user + system time from `/proc/<pid>/stat`, summed over a process's
//! threads (exited ones included), in clock ticks (10 ms on Linux): enough renders
//! are measured that a tick is a small fraction of the total.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, ensure};
use serde::Serialize;
use serde_json::Value;

use crate::client;
use crate::stack::Stack;

/// The first salt of the measured renders' anomaly factors: far above those of the
/// other scenarios, so no render finds another's results.
const SALTS: u32 = 1_000_000;

/// The CPU each process spent per render, and the one-process reference.
#[derive(Debug, Clone, Serialize)]
pub struct CpuPerRender {
    /// The window measured.
    pub scenario: String,
    /// Cold renders measured through the bus.
    pub renders: usize,
    /// CPU per render of each process, ms (user + system).
    pub cpu_ms_per_render: Vec<(String, f64)>,
    /// Their sum, ms.
    pub total_ms: f64,
    /// CPU of one `plotter render --all` process drawing the same six charts from the
    /// same window's blob, ms (the mean of `reference_runs`, process start included).
    pub reference_ms: f64,
    /// Runs of the reference.
    pub reference_runs: usize,
    /// `total_ms / reference_ms`.
    pub ratio: f64,
}

impl CpuPerRender {
    /// The measurement as lines for a terminal.
    pub fn table(&self) -> String {
        let per: Vec<String> = self
            .cpu_ms_per_render
            .iter()
            .map(|(k, v)| format!("{k} {v:.1}"))
            .collect();
        format!(
            "\nCPU per cold render, {} ({} renders), ms: {}\n  total {:.1}; one `plotter render --all` process {:.1} (mean of {}); ratio {:.2}\n",
            self.scenario,
            self.renders,
            per.join(", "),
            self.total_ms,
            self.reference_ms,
            self.reference_runs,
            self.ratio,
        )
    }
}

/// CPU time of process `pid` (named `name`) so far (user + system, every thread), in
/// clock ticks: fields 14 and 15 of its stat (utime, stime).
pub(crate) fn ticks(name: &str, pid: u32) -> Result<u64> {
    two_fields(&format!("/proc/{pid}/stat"), 14)
        .with_context(|| format!("read the CPU time of {name}"))
}

/// CPU time of this process's waited-for children so far, in clock ticks: fields 16
/// and 17 of its stat (cutime, cstime).
fn children_ticks() -> Result<u64> {
    two_fields("/proc/self/stat", 16).context("read the CPU time of finished children")
}

/// The sum of fields `first` and `first + 1` (counted from 1, as proc(5) does) of the
/// stat file at `path`.
fn two_fields(path: &str, first: usize) -> Result<u64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("read {path}"))?;
    // The command name, field 2, is in parentheses and may hold spaces: count from
    // the last ')', after which field 3 comes first.
    let rest = &stat[stat.rfind(')').with_context(|| format!("{path}: {stat}"))? + 1..];
    let mut fields = rest.split_whitespace().skip(first - 3);
    let mut next = || -> Result<u64> {
        fields
            .next()
            .with_context(|| format!("{path} is too short: {stat}"))?
            .parse()
            .with_context(|| format!("{path}: {stat}"))
    };
    Ok(next()? + next()?)
}

/// `ticks` clock ticks in milliseconds.
pub(crate) fn ms(ticks: u64) -> f64 {
    ticks as f64 * 1e3 / rustix::param::clock_ticks_per_second() as f64
}

/// Measures `renders` sequential cold renders of `body` (each with its own anomaly
/// factor, via `unique`) through the gateway of `stack`, reading the CPU of every
/// process of the stack before and after; then the reference: `prepare analyze`
/// writes the window's blob (the same analysis, of the bundled sample) and
/// `plotter render --all` draws it `reference_runs` times.
pub fn measure(
    stack: &Stack,
    bin_dir: &Path,
    (scenario, body): (&str, &Value),
    (renders, reference_runs): (usize, usize),
    unique: impl Fn(&Value, u32) -> Value,
) -> Result<CpuPerRender> {
    let url = &stack.system.http();
    let processes = stack.processes();
    let http = client::client()?;
    // One render first, so every process has loaded its fonts and warmed its
    // connections: the steady state is measured, not the first render.
    let warm = client::render(&http, url, &unique(body, SALTS))?;
    ensure!(warm.state == "complete", "warm-up render: {}", warm.status);
    let before = processes
        .iter()
        .map(|(name, pid)| ticks(name, *pid))
        .collect::<Result<Vec<_>>>()?;
    for salt in (SALTS + 1..).take(renders) {
        let outcome = client::render(&http, url, &unique(body, salt))?;
        ensure!(
            outcome.state == "complete",
            "render for the CPU measurement: {}",
            outcome.status
        );
    }
    let mut cpu = Vec::new();
    for ((name, pid), before) in processes.iter().zip(before) {
        let after = ticks(name, *pid).context("a process stopped during the CPU measurement")?;
        cpu.push((name.clone(), ms(after - before) / renders as f64));
    }
    let total_ms = cpu.iter().map(|(_, v)| v).sum();
    let reference_ms = reference(bin_dir, &unique(body, SALTS), reference_runs)?;
    Ok(CpuPerRender {
        scenario: scenario.to_owned(),
        renders,
        cpu_ms_per_render: cpu,
        total_ms,
        reference_ms,
        reference_runs,
        ratio: total_ms / reference_ms,
    })
}

/// The mean CPU of `runs` runs of `plotter render --all` on the blob of `body`'s
/// window, ms.
fn reference(bin_dir: &Path, body: &Value, runs: usize) -> Result<f64> {
    let dir = tempfile::tempdir().context("scratch directory")?;
    let blob = dir.path().join("window.blob");
    let symbol = body["symbol"].as_str().context("the scenario's symbol")?;
    let interval = body["interval"]
        .as_str()
        .context("the scenario's interval")?;
    let source = body["source"].as_str().context("the scenario's source")?;
    ensure!(
        source == "sample",
        "the CPU reference analyses the bundled sample, not {source}"
    );
    let mut analyze = Command::new(bin_dir.join("prepare"));
    analyze
        .args(["analyze", symbol, interval, "--source", "sample", "--out"])
        .arg(&blob);
    if let Some(k) = body["anomaly_k"].as_f64() {
        analyze.arg("--anomaly-k").arg(k.to_string());
    }
    run(&mut analyze)?;
    let mut draw = Command::new(bin_dir.join("plotter"));
    draw.args(["render", "--all", "--blob"])
        .arg(&blob)
        .arg("--out-dir")
        .arg(dir.path().join("charts"));
    let before = children_ticks()?;
    for _ in 0..runs {
        run(&mut draw)?;
    }
    Ok(ms(children_ticks()? - before) / runs as f64)
}

/// Runs `command` to its end (quietly, as the stack's services log) and checks that it
/// succeeded.
fn run(command: &mut Command) -> Result<()> {
    let output = command
        .env("RUST_LOG", "warn")
        .output()
        .with_context(|| format!("run {command:?}"))?;
    ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        // Field n holds n, after a command name with a space and a ')' in it.
        let fields: Vec<String> = (4..=20).map(|n| n.to_string()).collect();
        std::fs::write(&path, format!("1234 (odd) name) S {}\n", fields.join(" "))).unwrap();
        let path = path.to_str().unwrap();
        assert_eq!(two_fields(path, 14).unwrap(), 14 + 15);
        assert_eq!(two_fields(path, 16).unwrap(), 16 + 17);
        assert!(two_fields(path, 20).is_err(), "field 21 is past the end");
    }
}
