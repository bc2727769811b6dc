//! The fault suite (`--faults`): a load of renders from several concurrent clients over
//! mixed sources (bundled samples, a candle file, and Binance — a fake one, in process)
//! while faults are injected one after another into the self-started stack:
//!
//! 1. nats-server is stopped and started again on the same port;
//! 2. the S3 server is stopped for 5 s;
//! 3. a plotter is killed with SIGKILL, then started again (as a restart policy would);
//! 4. 1 MB of garbage, truncated MessagePack and a truncated event are published on
//!    every subject (and a garbage render request must be answered with a rejection);
//! 5. a blob with an unknown major schema version is stored at the content-addressed key
//!    a request is about to use (prepare must recompute it: the render completes with a
//!    fresh blob), and a `prepared` event is published for such a blob under a key no
//!    chart exists for (every plotter must fail with a reason naming the version);
//! 6. the fake Binance answers 429 with `Retry-After` for a few seconds.
//!
//! Every request is classified: **complete** (all six charts done), **failed** with a
//! reason (every missing chart says why, or the request was refused with an error
//! message), **unexplained** (ended without a reason for a missing chart, or a broken
//! connection) or **hung** (no final state within the deadline plus a margin). Only the
//! killed plotter is restarted: afterwards every other service must still run with its
//! original PID and be ready, and fresh renders from each source must complete with all
//! six charts. The suite passes when nothing hung, nothing went unexplained and every
//! check held.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use futures::StreamExt as _;
use serde::Serialize;
use serde_json::{Value, json};
use waveplot_protocol::blob::{MAGIC, SCHEMA_MAJOR};
use waveplot_protocol::{
    Blob, BlobKey, FailedEvent, ImageFormat, Interval, Message as _, PlotId, PrepareTimings,
    PreparedEvent, RenderReply, RenderRequest, RequestId, Source, Subjects, Symbol, V1, WindowId,
};
use waveplot_service::{Bus, Store};

use crate::stack::{self, BUCKET, PLOTS, Stack};

/// How long the gateway waits for prepare to accept a request (its `ACCEPT_TIMEOUT`).
const ACCEPT: Duration = Duration::from_secs(5);
/// Beyond the render deadline (and the acceptance wait), a request counts as hung.
const MARGIN: Duration = Duration::from_secs(10);
/// The plotter the suite kills.
const KILLED: &str = "02b";
/// A major schema version no reader knows.
const UNKNOWN_MAJOR: u64 = 99;

/// How hard and how long the suite pushes.
struct Settings {
    clients: usize,
    deadline_s: u64,
    baseline: Duration,
    settle: Duration,
    rate_limit: Duration,
    synthetic: usize,
}

impl Settings {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                clients: 3,
                deadline_s: 10,
                baseline: Duration::from_secs(2),
                settle: Duration::from_secs(2),
                rate_limit: Duration::from_secs(4),
                synthetic: 20_000,
            }
        } else {
            Self {
                clients: 8,
                deadline_s: 20,
                baseline: Duration::from_secs(5),
                settle: Duration::from_secs(4),
                rate_limit: Duration::from_secs(6),
                synthetic: 20_000,
            }
        }
    }

    /// From sending a request to the latest moment its final state may come.
    fn limit(&self) -> Duration {
        ACCEPT + Duration::from_secs(self.deadline_s) + MARGIN
    }
}

/// How one request ended.
#[derive(Debug, Clone)]
enum Class {
    Complete,
    Failed(String),
    Unexplained(String),
    Hung(String),
}

/// Counts of one phase of the suite (the fault being injected when the request was sent).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phase {
    /// The fault, or `baseline`/`recovery`.
    pub name: String,
    /// Requests sent.
    pub sent: usize,
    /// All six charts done.
    pub complete: usize,
    /// Ended with a reason for every missing chart, or refused with an error message.
    pub failed: usize,
    /// Ended without a reason for a missing chart, or the connection broke.
    pub unexplained: usize,
    /// No final state within the deadline plus the margin.
    pub hung: usize,
}

impl Phase {
    fn count(&mut self, class: &Class) {
        self.sent += 1;
        match class {
            Class::Complete => self.complete += 1,
            Class::Failed(_) => self.failed += 1,
            Class::Unexplained(_) => self.unexplained += 1,
            Class::Hung(_) => self.hung += 1,
        }
    }
}

/// One thing the suite asserts about the system.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked.
    pub what: String,
    /// Whether it held.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// The outcome of the fault suite (the `faults` object of the JSON report).
#[derive(Debug, Clone, Serialize)]
pub struct Faults {
    /// Requests sent during the suite.
    pub sent: usize,
    /// Requests with all six charts done.
    pub complete: usize,
    /// Requests that failed with a reason.
    pub failed: usize,
    /// Requests with no final state within the deadline plus the margin (must be 0).
    pub hung: usize,
    /// Requests that ended without a reason (must be 0).
    pub unexplained: usize,
    /// True when every check held: the services were ready again after each fault,
    /// garbage and unknown-major blobs were handled as documented, no service but the
    /// killed plotter was restarted, and fresh renders completed afterwards.
    pub recovered: bool,
    /// The render deadline the stack ran with, s.
    pub deadline_s: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// Wall time of the suite, s.
    pub wall_s: f64,
    /// Counts per phase.
    pub phases: Vec<Phase>,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// What the unexplained and hung requests reported (at most a few).
    pub problems: Vec<String>,
    /// The distinct reasons of failed requests, with their phase and count.
    pub reasons: Vec<(String, String, usize)>,
}

impl Faults {
    /// True when nothing hung or went unexplained and every check held.
    pub fn passed(&self) -> bool {
        self.hung == 0 && self.unexplained == 0 && self.recovered
    }

    /// The counts and checks as a table for a terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "\nfault suite: {} clients, deadline {} s, {:.0} s\nphase                        sent complete failed unexplained   hung\n",
            self.clients, self.deadline_s, self.wall_s
        );
        let row = |name: &str, p: (usize, usize, usize, usize, usize)| {
            format!(
                "{name:<27} {:>6} {:>8} {:>6} {:>11} {:>6}\n",
                p.0, p.1, p.2, p.3, p.4
            )
        };
        for p in &self.phases {
            out += &row(
                &p.name,
                (p.sent, p.complete, p.failed, p.unexplained, p.hung),
            );
        }
        out += &row(
            "total",
            (
                self.sent,
                self.complete,
                self.failed,
                self.unexplained,
                self.hung,
            ),
        );
        out += "\nchecks\n";
        for c in &self.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            out += &format!("  {mark} {}: {}\n", c.what, c.detail);
        }
        for p in &self.problems {
            out += &format!("  problem: {p}\n");
        }
        if !self.reasons.is_empty() {
            out += "\nreasons of failed requests (phase sent in, count)\n";
        }
        for (phase, reason, n) in &self.reasons {
            out += &format!("  {phase} ×{n}: {reason}\n");
        }
        out += &format!(
            "fault suite {}\n",
            if self.passed() { "passed" } else { "FAILED" }
        );
        out
    }
}

/// The phases, in order; the index is what the clients read.
const PHASES: [&str; 8] = [
    "baseline",
    "nats-server restarted",
    "S3 stopped for 5 s",
    "plotter killed (-9)",
    "garbage on every subject",
    "unknown blob major version",
    "Binance answers 429",
    "recovery",
];

/// What the clients and the injector share.
struct Shared {
    url: String,
    phase: AtomicUsize,
    /// Requests each client has started.
    started: Vec<AtomicUsize>,
    stop: AtomicBool,
    salt: AtomicU32,
    records: Mutex<Vec<(usize, Class)>>,
    limit: Duration,
}

impl Shared {
    /// Waits (at most one request's limit) until every client has started a request
    /// since this call, so none is still stuck on a render the previous fault broke
    /// and the next fault meets the full load.
    fn until_every_client_is_sending(&self) {
        let counts = || -> Vec<usize> {
            self.started
                .iter()
                .map(|n| n.load(Ordering::Acquire))
                .collect()
        };
        let (before, since) = (counts(), Instant::now());
        while since.elapsed() < self.limit
            && counts().iter().zip(&before).any(|(now, then)| now == then)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn record(&self, phase: usize, class: Class) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((phase, class));
    }

    /// A request body no earlier request used (a fresh anomaly factor), so it is cold.
    fn unique(&self, body: &Value) -> Value {
        let salt = self.salt.fetch_add(1, Ordering::Relaxed);
        let mut b = body.clone();
        b["anomaly_k"] = json!(5.0 + f64::from(salt) * 1e-6);
        b
    }
}

/// The mixed load: symbols, intervals and every kind of source.
fn bodies() -> Vec<Value> {
    let file = format!("file:{}", stack::SYNTHETIC);
    vec![
        json!({"symbol": "BTCUSDT", "interval": "5m", "source": "sample"}),
        json!({"symbol": "ETHUSDT", "interval": "5m", "source": "sample"}),
        json!({"symbol": "BTCUSDT", "interval": "1h", "source": "sample"}),
        json!({"symbol": "BTCUSDT", "interval": "1m", "source": file, "window": 2000}),
        json!({"symbol": "BTCUSDT", "interval": "5m", "source": "binance", "window": 500}),
        json!({"symbol": "ETHUSDT", "interval": "15m", "source": "binance", "window": 300}),
    ]
}

/// Starts a stack, runs the load with the faults and checks recovery.
pub fn run(bin_dir: &std::path::Path, quick: bool) -> Result<Faults> {
    let settings = Settings::new(quick);
    let started = Instant::now();
    let mut stack = Stack::start(bin_dir, settings.deadline_s, settings.synthetic)?;
    let pids: Vec<(String, Option<u32>)> = stack
        .services
        .iter()
        .map(|(n, s)| (n.clone(), s.pid()))
        .collect();
    let shared = Shared {
        url: stack.url.clone(),
        phase: AtomicUsize::new(0),
        started: (0..settings.clients).map(|_| AtomicUsize::new(0)).collect(),
        stop: AtomicBool::new(false),
        salt: AtomicU32::new(1),
        records: Mutex::new(Vec::new()),
        limit: settings.limit(),
    };
    let http = http()?;
    let mut checks = Vec::new();
    let warm = warm_up(&http, &shared, &mut checks)?;
    let bodies = bodies();
    std::thread::scope(|scope| {
        for c in 0..settings.clients {
            let (shared, bodies) = (&shared, &bodies);
            scope.spawn(move || client(shared, bodies, c));
        }
        // Stops the clients however the injection ends (a panic included), so the
        // scope can join them.
        let _stop = StopOnDrop(&shared.stop);
        inject(&mut stack, &settings, &shared, &http, &warm, &mut checks);
    });
    recover(&mut stack, &pids, &shared, &http, &mut checks);
    Ok(summarise(&settings, &shared, checks, started))
}

/// `text` cut to a length a table row can show.
fn shorten(text: &str) -> String {
    const MAX: usize = 240;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Sets the flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// What the warm-up render of the sample told: its blob key and window end.
struct Warm {
    key: String,
    last_open_ms: i64,
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
    let (class, status) = follow(http, shared, &body);
    let ok = matches!(class, Class::Complete);
    checks.push(Check {
        what: "a render completes before the faults".into(),
        ok,
        detail: format!("{class:?}"),
    });
    anyhow::ensure!(ok, "the stack does not render before any fault: {status}");
    let prepared = &status["prepared"];
    Ok(Warm {
        key: prepared["key"].as_str().context("prepared.key")?.to_owned(),
        last_open_ms: prepared["last_open_ms"]
            .as_i64()
            .context("prepared.last_open_ms")?,
        first_open_ms: prepared["first_open_ms"]
            .as_i64()
            .context("prepared.first_open_ms")?,
    })
}

/// A client: renders one body after another until told to stop.
fn client(shared: &Shared, bodies: &[Value], index: usize) {
    let Ok(http) = http() else {
        shared.record(0, Class::Unexplained("no HTTP client".into()));
        return;
    };
    let mut n = index;
    while !shared.stop.load(Ordering::Acquire) {
        let phase = shared.phase.load(Ordering::Acquire);
        shared.started[index].fetch_add(1, Ordering::AcqRel);
        let (class, _) = follow(&http, shared, &shared.unique(&bodies[n % bodies.len()]));
        if !matches!(class, Class::Complete) {
            // A refusal comes back at once; do not turn an outage into a busy loop.
            std::thread::sleep(Duration::from_millis(200));
        }
        shared.record(phase, class);
        n += 1;
    }
}

/// A blocking HTTP client with a timeout longer than the gateway's acceptance wait.
fn http() -> Result<reqwest::blocking::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(ACCEPT + Duration::from_secs(10))
        .build()
        .context("HTTP client")
}

/// Sends one render and polls its status JSON until it ends or the limit passes.
fn follow(http: &reqwest::blocking::Client, shared: &Shared, body: &Value) -> (Class, Value) {
    let sent = Instant::now();
    let res = match http
        .post(format!("{}/api/render", shared.url))
        .json(body)
        .send()
    {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return (Class::Hung(format!("POST: {e}")), Value::Null),
        Err(e) => return (Class::Unexplained(format!("POST: {e}")), Value::Null),
    };
    let code = res.status();
    let created: Value = match res.json() {
        Ok(v) => v,
        Err(e) => return (Class::Unexplained(format!("HTTP {code}: {e}")), Value::Null),
    };
    if !code.is_success() {
        let error = created["error"].as_str().unwrap_or_default();
        return if error.trim().is_empty() {
            (
                Class::Unexplained(format!("HTTP {code} without an error: {created}")),
                created,
            )
        } else {
            (Class::Failed(format!("HTTP {code}: {error}")), created)
        };
    }
    let Some(status_url) = created["status_url"].as_str() else {
        return (
            Class::Unexplained(format!("no status_url: {created}")),
            created,
        );
    };
    let mut last = Value::Null;
    while sent.elapsed() < shared.limit {
        if let Ok(st) = http
            .get(format!("{}{status_url}", shared.url))
            .send()
            .and_then(reqwest::blocking::Response::json::<Value>)
        {
            if st["state"] != "running" {
                return (classify(&st), st);
            }
            last = st;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let pending: Vec<&String> = last["plots"]
        .as_object()
        .map(|p| {
            p.iter()
                .filter(|(_, s)| s["state"] == "pending")
                .map(|(k, _)| k)
                .collect()
        })
        .unwrap_or_default();
    (
        Class::Hung(format!(
            "{} still running after {:?} (pending {pending:?}, prepared: {})",
            created["id"],
            shared.limit,
            !last["prepared"].is_null()
        )),
        last,
    )
}

/// Classifies a final status.
fn classify(st: &Value) -> Class {
    let Some(plots) = st["plots"].as_object() else {
        return Class::Unexplained(format!("a status without plots: {st}"));
    };
    let unexplained: Vec<&String> = plots
        .iter()
        .filter(|(_, p)| {
            p["state"] != "done" && p["error"].as_str().is_none_or(|e| e.trim().is_empty())
        })
        .map(|(k, _)| k)
        .collect();
    let done = plots.values().filter(|p| p["state"] == "done").count();
    match st["state"].as_str() {
        Some("complete") if done == plots.len() && done == PLOTS.len() => Class::Complete,
        Some("partial" | "failed") if unexplained.is_empty() => {
            // Each distinct reason once, with the charts it cost.
            let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
            for (plot, p) in plots.iter().filter(|(_, p)| p["state"] != "done") {
                let reason = p["error"].as_str().unwrap_or_default();
                match reasons.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, charts)) => charts.push(plot),
                    None => reasons.push((reason, vec![plot])),
                }
            }
            let reasons: Vec<String> = reasons
                .iter()
                .map(|(r, charts)| format!("{}: {r}", charts.join(", ")))
                .collect();
            Class::Failed(format!(
                "{} {}: {}",
                st["state"],
                st["request"]["source"],
                reasons.join("; ")
            ))
        }
        _ => Class::Unexplained(format!(
            "{} ended {} with no reason for {unexplained:?}",
            st["id"], st["state"]
        )),
    }
}

/// Injects the faults one after another while the clients run.
fn inject(
    stack: &mut Stack,
    settings: &Settings,
    shared: &Shared,
    http: &reqwest::blocking::Client,
    warm: &Warm,
    checks: &mut Vec<Check>,
) {
    // Each fault starts once every client is sending again (see
    // `until_every_client_is_sending`).
    let phase = |n: usize| {
        shared.until_every_client_is_sending();
        shared.phase.store(n, Ordering::Release);
    };
    std::thread::sleep(settings.baseline);

    phase(1);
    stack.nats.stop();
    std::thread::sleep(Duration::from_secs(1));
    stack.nats.restart();
    checks.push(ready_again(stack, PHASES[1]));
    std::thread::sleep(settings.settle);

    phase(2);
    stack.s3.stop();
    std::thread::sleep(Duration::from_secs(5));
    stack.s3.restart();
    checks.push(ready_again(stack, PHASES[2]));
    std::thread::sleep(settings.settle);

    phase(3);
    stack.service(&format!("plotter-{KILLED}")).kill();
    std::thread::sleep(Duration::from_secs(1));
    stack.restart_plotter(KILLED);
    checks.push(ready_again(stack, PHASES[3]));
    std::thread::sleep(settings.settle);

    phase(4);
    checks.push(check("garbage published on every subject", || {
        stack.runtime.block_on(garbage(stack, &warm.key))
    }));
    checks.push(ready_again(stack, PHASES[4]));
    std::thread::sleep(settings.settle);

    phase(5);
    checks.push(check(
        "a stored blob of an unknown major version is recomputed by prepare",
        || unknown_major_recomputed(stack, shared, http, warm),
    ));
    checks.push(check(
        "every plotter fails a prepared event of an unknown major version with a reason",
        || stack.runtime.block_on(unknown_major_refused(stack, warm)),
    ));
    std::thread::sleep(settings.settle);

    phase(6);
    stack.binance.rate_limit_for(settings.rate_limit, 1);
    let body = json!({"symbol": "BTCUSDT", "interval": "5m", "source": "binance", "window": 400});
    let (class, _) = follow(http, shared, &shared.unique(&body));
    shared.record(6, class);
    std::thread::sleep(settings.rate_limit.saturating_sub(Duration::from_secs(1)));
    let limited = stack.binance.rate_limited();
    checks.push(Check {
        what: "the fake Binance rate-limited prepare".into(),
        ok: limited > 0,
        detail: format!("{limited} requests answered 429 with Retry-After"),
    });
    std::thread::sleep(settings.settle);
    phase(7);
}

/// A check from a fallible step: its error is the detail.
fn check(what: &str, step: impl FnOnce() -> Result<String>) -> Check {
    let (ok, detail) = match step() {
        Ok(detail) => (true, detail),
        Err(e) => (false, format!("{e:#}")),
    };
    Check {
        what: what.to_owned(),
        ok,
        detail,
    }
}

/// Waits up to 30 s until every service answers `/readyz`.
fn ready_again(stack: &Stack, after: &str) -> Check {
    let started = Instant::now();
    let limit = Duration::from_secs(30);
    let mut waiting: Vec<String>;
    loop {
        waiting = stack
            .services
            .iter()
            .filter(|(_, s)| !s.is_ready())
            .map(|(n, _)| n.clone())
            .collect();
        if waiting.is_empty() || started.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Check {
        what: format!("every service ready again after: {after}"),
        ok: waiting.is_empty(),
        detail: if waiting.is_empty() {
            format!("after {:.1} s", started.elapsed().as_secs_f64())
        } else {
            format!("not ready after {limit:?}: {}", waiting.join(", "))
        },
    }
}

/// Deterministic noise (xorshift), so runs are repeatable.
fn noise(n: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Publishes 1 MB of noise, a truncated blob and a truncated event on every subject, and
/// sends a garbage render request, which prepare must refuse.
async fn garbage(stack: &Stack, blob_key: &str) -> Result<String> {
    let bus = Bus::connect(&stack.nats.url(), "waveplot-bench-faults").await?;
    let store = Store::open_with(&format!("s3://{BUCKET}"), stack.s3_vars()).await?;
    let blob = store
        .get(blob_key)
        .await?
        .context("the warm-up blob is not in the store")?;
    let event = serde_json::to_vec(&json!({"v": 1, "request_id": "garbage", "key": blob_key}))?;
    let megabyte = noise(1_000_000);
    let payloads: [&[u8]; 3] = [
        &megabyte,
        &blob[..blob.len() / 2],
        &event[..event.len() / 2],
    ];
    let s = Subjects::default();
    let mut subjects = vec![
        s.render(),
        format!("{}.prepared.BTCUSDT.5m", s.prefix()),
        format!("{}.prepared.ETHUSDT.1h", s.prefix()),
    ];
    subjects.extend(PlotId::ALL.iter().map(|p| s.done(*p)));
    subjects.extend(["gateway", "prepare", "plot"].map(|t| format!("{}.failed.{t}", s.prefix())));
    for subject in &subjects {
        for payload in payloads {
            bus.publish(
                subject.clone(),
                bytes::Bytes::copy_from_slice(payload),
                "garbage",
            )
            .await?;
        }
    }
    bus.flush().await?;
    let reply = bus
        .request(
            s.render(),
            bytes::Bytes::copy_from_slice(payloads[1]),
            ACCEPT,
        )
        .await
        .context("a garbage render request got no answer")?;
    let refusal = match RenderReply::decode(&reply)? {
        RenderReply::Rejected { error, .. } => error,
        RenderReply::Accepted { .. } => anyhow::bail!("a garbage render request was accepted"),
    };
    Ok(format!(
        "{} payloads on {} subjects; a garbage request was refused: {}",
        payloads.len() * subjects.len(),
        subjects.len(),
        refusal.chars().take(80).collect::<String>()
    ))
}

/// The blob `blob` re-encoded with an unknown major version (the rest is valid).
fn with_unknown_major(blob: &Blob) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, 6)?;
    rmp::encode::write_bin(&mut out, MAGIC)?;
    rmp::encode::write_uint(&mut out, UNKNOWN_MAJOR)?;
    rmp::encode::write_uint(&mut out, 0)?;
    let mut ser = rmp_serde::Serializer::new(&mut out).with_struct_map();
    serde::Serialize::serialize(&blob.header, &mut ser)?;
    serde::Serialize::serialize(&blob.candles, &mut ser)?;
    serde::Serialize::serialize(&blob.analysis, &mut ser)?;
    anyhow::ensure!(
        Blob::decode(&out).is_err() && UNKNOWN_MAJOR != u64::from(SCHEMA_MAJOR),
        "the re-encoded blob is still readable"
    );
    Ok(out)
}

/// The BTC 5m sample request of `window` candles with a fresh anomaly factor, and the
/// content-addressed key its blob will have.
fn sample_request(shared: &Shared, warm: &Warm, window: u32) -> Result<(Value, BlobKey)> {
    let body = shared.unique(
        &json!({"symbol": "BTCUSDT", "interval": "5m", "source": "sample", "window": window}),
    );
    let mut request = RenderRequest::new(
        RequestId::generate(),
        Symbol::parse("BTCUSDT")?,
        Interval::M5,
    );
    request.source = Source::Sample;
    request.window = Some(window);
    request.anomaly_k = body["anomaly_k"].as_f64();
    let key = BlobKey::for_window(&WindowId {
        symbol: &request.symbol,
        interval: request.interval,
        source: &request.source,
        end_open_ms: warm.last_open_ms,
        candles: window,
        params: &request.params(),
    });
    Ok((body, key))
}

/// Stores an unknown-major blob where a request's blob will go, sends the request, and
/// checks that prepare computed a fresh blob and every chart was drawn.
fn unknown_major_recomputed(
    stack: &Stack,
    shared: &Shared,
    http: &reqwest::blocking::Client,
    warm: &Warm,
) -> Result<String> {
    let (body, key) = sample_request(shared, warm, 600)?;
    stack.runtime.block_on(async {
        let store = Store::open_with(&format!("s3://{BUCKET}"), stack.s3_vars()).await?;
        let blob = store.get(&warm.key).await?.context("the warm-up blob")?;
        let bad = with_unknown_major(&Blob::decode(&blob)?)?;
        store.put(key.as_str(), bad.into()).await?;
        anyhow::Ok(())
    })?;
    let (class, st) = follow(http, shared, &body);
    shared.record(5, class.clone());
    anyhow::ensure!(
        matches!(class, Class::Complete),
        "the render did not complete: {class:?}"
    );
    let prepared = &st["prepared"];
    anyhow::ensure!(
        prepared["key"] == key.as_str() && prepared["reused"] == false,
        "prepare did not recompute the blob at {key}: {prepared}"
    );
    Ok(format!("{key} recomputed; six charts done"))
}

/// Stores an unknown-major blob under a key no chart exists for, publishes a `prepared`
/// event for it, and waits for every plotter's `failed` event.
async fn unknown_major_refused(stack: &Stack, warm: &Warm) -> Result<String> {
    let bus = Bus::connect(&stack.nats.url(), "waveplot-bench-faults").await?;
    let store = Store::open_with(&format!("s3://{BUCKET}"), stack.s3_vars()).await?;
    let blob = store.get(&warm.key).await?.context("the warm-up blob")?;
    let bad = with_unknown_major(&Blob::decode(&blob)?)?;
    let mut request = RenderRequest::new(
        RequestId::generate(),
        Symbol::parse("BTCUSDT")?,
        Interval::M5,
    );
    request.source = Source::Sample;
    // A window no render uses, so no chart of it exists and every plotter reads the blob.
    let candles = 601;
    let key = BlobKey::for_window(&WindowId {
        symbol: &request.symbol,
        interval: request.interval,
        source: &request.source,
        end_open_ms: warm.last_open_ms,
        candles,
        params: &request.params(),
    });
    store.put(key.as_str(), bad.into()).await?;
    let subjects = Subjects::default();
    let mut failed = bus
        .subscribe(format!("{}.failed.plot", subjects.prefix()), None)
        .await?;
    bus.flush().await?;
    let event = PreparedEvent {
        v: V1,
        request_id: request.request_id.clone(),
        symbol: request.symbol.clone(),
        interval: request.interval,
        source: request.source.clone(),
        key: key.clone(),
        candles,
        first_open_ms: warm.first_open_ms,
        last_open_ms: warm.last_open_ms,
        backend: "cpu".into(),
        device: "waveplot-bench".into(),
        reused: true,
        plots: PlotId::ALL.to_vec(),
        width: None,
        height: None,
        format: ImageFormat::Png,
        tz: None,
        timings_ms: PrepareTimings::default(),
    };
    bus.send(&subjects, &event).await?;
    let mut reasons = Vec::new();
    let waited = tokio::time::timeout(Duration::from_secs(15), async {
        while reasons.len() < PlotId::ALL.len() {
            let Some(m) = failed.next().await else {
                break;
            };
            if let Ok(e) = FailedEvent::decode(&m.payload) {
                if e.request_id.as_ref() == Some(&request.request_id) {
                    reasons.push((e.plot_id, e.reason));
                }
            }
        }
    })
    .await;
    anyhow::ensure!(
        waited.is_ok() && reasons.len() == PlotId::ALL.len(),
        "{} of 6 plotters reported a failure within 15 s: {reasons:?}",
        reasons.len()
    );
    let unclear: Vec<_> = reasons
        .iter()
        .filter(|(_, r)| !r.contains("not supported"))
        .collect();
    anyhow::ensure!(
        unclear.is_empty(),
        "reasons that do not name the version: {unclear:?}"
    );
    Ok(format!(
        "6 plotters refused it, e.g. \"{}\"",
        reasons[0].1.chars().take(100).collect::<String>()
    ))
}

/// After the faults: the same processes (but the restarted plotter) run and are ready,
/// and a fresh render from each kind of source completes with all six charts.
fn recover(
    stack: &mut Stack,
    pids: &[(String, Option<u32>)],
    shared: &Shared,
    http: &reqwest::blocking::Client,
    checks: &mut Vec<Check>,
) {
    checks.push(ready_again(stack, "the whole suite"));
    let killed = format!("plotter-{KILLED}");
    let mut changed = Vec::new();
    for (name, pid) in pids {
        let service = stack.service(name);
        let same = *name == killed || service.pid() == *pid;
        if !same || !service.is_running() {
            changed.push(name.clone());
        }
    }
    checks.push(Check {
        what: "no service but the killed plotter was restarted or exited".into(),
        ok: changed.is_empty(),
        detail: if changed.is_empty() {
            format!("{} services kept their PIDs", pids.len() - 1)
        } else {
            format!("restarted or gone: {}", changed.join(", "))
        },
    });
    let mut fresh = Vec::new();
    for body in [0, 3, 4].map(|i| bodies()[i].clone()) {
        let (class, _) = follow(http, shared, &shared.unique(&body));
        shared.record(7, class.clone());
        fresh.push((body["source"].as_str().unwrap_or("?").to_owned(), class));
    }
    let all = fresh.iter().all(|(_, c)| matches!(c, Class::Complete));
    checks.push(Check {
        what: "fresh renders after the faults complete with six charts".into(),
        ok: all,
        detail: fresh
            .iter()
            .map(|(s, c)| format!("{s}: {c:?}"))
            .collect::<Vec<_>>()
            .join(", "),
    });
}

fn summarise(settings: &Settings, shared: &Shared, checks: Vec<Check>, started: Instant) -> Faults {
    let records = shared
        .records
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut phases: Vec<Phase> = PHASES
        .iter()
        .map(|name| Phase {
            name: (*name).to_owned(),
            ..Phase::default()
        })
        .collect();
    let mut total = Phase::default();
    let mut problems = Vec::new();
    let mut reasons: Vec<(String, String, usize)> = Vec::new();
    for (phase, class) in records.iter() {
        phases[*phase].count(class);
        total.count(class);
        match class {
            Class::Unexplained(why) | Class::Hung(why) if problems.len() < 10 => {
                problems.push(format!("{}: {why}", PHASES[*phase]));
            }
            Class::Failed(why) => {
                let phase = PHASES[*phase].to_owned();
                let why = &shorten(why);
                match reasons.iter_mut().find(|(p, r, _)| *p == phase && r == why) {
                    Some((_, _, n)) => *n += 1,
                    None => reasons.push((phase, why.to_owned(), 1)),
                }
            }
            _ => {}
        }
    }
    Faults {
        sent: total.sent,
        complete: total.complete,
        failed: total.failed,
        hung: total.hung,
        unexplained: total.unexplained,
        recovered: checks.iter().all(|c| c.ok),
        deadline_s: settings.deadline_s,
        clients: settings.clients,
        wall_s: started.elapsed().as_secs_f64(),
        phases,
        checks,
        problems,
        reasons,
    }
}
