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

/// CPU time of process `pid` so far (user + system, every thread), in clock ticks.
fn ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, field 2, is in parentheses and may hold spaces: count from
    // the last ')'. Fields 14 and 15 (utime, stime) are then the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// CPU time of this process's waited-for children so far (`cutime + cstime`), in
/// clock ticks.
fn children_ticks() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("read /proc/self/stat")?;
    let rest = &stat[stat.rfind(')').context("/proc/self/stat")? + 1..];
    let mut fields = rest.split_whitespace().skip(13);
    let mut next = || -> Result<u64> {
        fields
            .next()
            .context("/proc/self/stat is too short")?
            .parse()
            .context("/proc/self/stat field")
    };
    Ok(next()? + next()?)
}

fn ms(ticks: u64) -> f64 {
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
    let before: Vec<Option<u64>> = processes.iter().map(|(_, pid)| ticks(*pid)).collect();
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
        let (Some(before), Some(after)) = (before, ticks(*pid)) else {
            anyhow::bail!("{name} (pid {pid}) stopped during the CPU measurement");
        };
        cpu.push((name.clone(), ms(after - before) / renders as f64));
    }
    let total_ms = cpu.iter().map(|(_, v)| v).sum();
    let reference_ms = reference(bin_dir, body, reference_runs)?;
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
