//! The fault suite (`--faults`): a load of renders from several concurrent clients over
//! mixed sources (bundled samples, a candle file, and Binance — a fake one, in process)
//! while faults are injected one after another into the self-started stack:
//!
//! 1. nats-server is stopped and started again on the same port;
//! 2. the S3 server is stopped for 5 s;
//! 3. a plotter is killed with SIGKILL, then started again (as a restart policy would);
//! 4. prepare is killed with SIGKILL, then started again;
//! 5. 130 kB of garbage (about the most the server takes), truncated MessagePack and a
//!    truncated event are published on every subject, each by the user allowed to
//!    publish there (and a garbage render request must be answered with a rejection);
//! 6. a blob with an unknown major schema version is stored at the content-addressed key
//!    a request is about to use (prepare must recompute it: the render completes with a
//!    fresh blob), and a `prepared` event is published for such a blob under a key no
//!    chart exists for (every plotter must fail with a reason naming the version);
//! 7. the fake Binance answers 429 with `Retry-After` for a few seconds.
//!
//! After the recovery checks, [`abuse`] sends the gateway oversized, malformed and
//! duplicate-key bodies, a thousand event-stream clients on a finished render and
//! clients that never finish their headers, and checks that each is refused or closed
//! with a reason and that the gateway's descriptors and memory come back.
//!
//! Every request is classified: **complete** (all six charts done), **failed** with a
//! reason (accepted, and every missing chart says why), **refused** at the door with an
//! error message (not accepted: a 503 while no prepare is reachable), **unexplained** (ended without a reason for a missing chart, or a broken
//! connection) or **hung** (no final state within the deadline plus a margin). With the
//! durable delivery of the events, a render accepted during any fault should complete;
//! the failures left are the forged unknown-major events' and whatever outlasts the
//! deadline. Only the killed plotter and prepare are restarted: afterwards every other
//! service must still run with its original PID and be ready, and fresh renders from each source must complete with all
//! six charts. The suite passes when nothing hung, nothing went unexplained and every
//! check held.
//!
//! Each job has a module: [`settings`] (how hard and long), [`load`] (the clients),
//! [`follow`] (one render over HTTP), [`classify`] (how it ended), [`inject`] (the
//! faults and the recovery checks), [`forged`] (the unknown-major blobs) and
//! [`report`] (the outcome), and [`abuse`] (the gateway's limits under abuse).

mod abuse;
mod classify;
mod follow;
mod forged;
mod inject;
mod load;
mod report;
mod settings;

use std::time::Instant;

use anyhow::{Context as _, Result};
use serde_json::json;
use waveplot_testkit::Role;

use crate::stack::Stack;
use classify::Class;
use load::{Shared, StopOnDrop};
use report::Check;
pub use report::Faults;
use settings::Settings;

/// The phases, in order; the index is what the clients read.
const PHASES: [&str; 9] = [
    "baseline",
    "nats-server restarted",
    "S3 stopped for 5 s",
    "plotter killed (-9)",
    "prepare killed (-9)",
    "garbage on every subject",
    "unknown blob major version",
    "Binance answers 429",
    "recovery",
];

/// Starts a stack, runs the load with the faults and checks recovery.
pub fn run(bin_dir: &std::path::Path, quick: bool) -> Result<Faults> {
    let settings = Settings::new(quick);
    let started = Instant::now();
    let mut stack = Stack::start(
        bin_dir,
        settings.deadline_s,
        settings.synthetic,
        crate::stack::S3::S3sFs,
    )?;
    let pids: Vec<(Role, Option<u32>)> = stack
        .system
        .services()
        .map(|(role, s)| (role, s.pid()))
        .collect();
    let shared = Shared::new(stack.system.http(), settings.clients, settings.limit());
    let http = load::http()?;
    let mut checks = Vec::new();
    let warm = warm_up(&http, &shared, &mut checks)?;
    let bodies = load::bodies();
    std::thread::scope(|scope| {
        for c in 0..settings.clients {
            let (shared, bodies) = (&shared, &bodies);
            scope.spawn(move || load::client(shared, bodies, c));
        }
        // Stops the clients however the injection ends (a panic included), so the
        // scope can join them.
        let _stop = StopOnDrop(&shared.stop);
        inject::inject(&mut stack, &settings, &shared, &http, &warm, &mut checks);
    });
    let finished = inject::recover(&mut stack, &pids, &shared, &http, &mut checks);
    abuse::abuse(&stack, finished.as_deref().unwrap_or(&warm.id), &mut checks);
    Ok(report::summarise(&settings, &shared, checks, started))
}

/// What the warm-up render of the sample told: its blob key and window.
struct Warm {
    /// The render's ID (it has ended).
    id: String,
    /// The blob's key.
    key: String,
    /// The open time of the window's last candle, ms.
    last_open_ms: i64,
    /// The open time of the window's first candle, ms.
    first_open_ms: i64,
}

/// One render of the BTC 5m sample before any load, to know the system works and to
/// learn the sample's window (for the unknown-major fault's keys).
fn warm_up(
    http: &reqwest::blocking::Client,
    shared: &Shared,
    checks: &mut Vec<Check>,
) -> Result<Warm> {
    let body = json!({"symbol": "BTCUSDT", "interval": "5m", "source": "sample"});
    let (class, status) = follow::follow(http, shared, &body);
    let ok = matches!(class, Class::Complete);
    checks.push(Check {
        what: "a render completes before the faults".into(),
        ok,
        detail: format!("{class:?}"),
    });
    anyhow::ensure!(ok, "the stack does not render before any fault: {status}");
    let prepared = &status["prepared"];
    Ok(Warm {
        id: status["id"].as_str().context("id")?.to_owned(),
        key: prepared["key"].as_str().context("prepared.key")?.to_owned(),
        last_open_ms: prepared["last_open_ms"]
            .as_i64()
            .context("prepared.last_open_ms")?,
        first_open_ms: prepared["first_open_ms"]
            .as_i64()
            .context("prepared.first_open_ms")?,
    })
}
