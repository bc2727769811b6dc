//! The load the faults are injected under: several clients, each rendering one body of
//! a mixed set after another (every kind of source, each request cold), and what they
//! share with the injector: the current phase, how far each client got, and how each
//! request ended.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use super::classify::Class;
use super::follow::follow;
use super::settings::ACCEPT;
use crate::stack;

/// What the clients and the injector share.
pub(super) struct Shared {
    /// The gateway's base URL.
    pub(super) url: String,
    /// The index (in `PHASES`) of the fault being injected.
    pub(super) phase: AtomicUsize,
    /// Requests each client has started.
    pub(super) started: Vec<AtomicUsize>,
    /// Set when the clients must stop.
    pub(super) stop: AtomicBool,
    /// The next anomaly-factor salt (see [`Shared::unique`]).
    pub(super) salt: AtomicU32,
    /// How each request ended, with the phase it was sent in.
    pub(super) records: Mutex<Vec<(usize, Class)>>,
    /// From sending a request to the latest moment its final state may come.
    pub(super) limit: Duration,
}

impl Shared {
    /// Nothing sent yet, for `clients` clients of the gateway at `url`.
    pub(super) fn new(url: String, clients: usize, limit: Duration) -> Self {
        Self {
            url,
            phase: AtomicUsize::new(0),
            started: (0..clients).map(|_| AtomicUsize::new(0)).collect(),
            stop: AtomicBool::new(false),
            salt: AtomicU32::new(1),
            records: Mutex::new(Vec::new()),
            limit,
        }
    }

    /// Waits (at most one request's limit) until every client has started a request
    /// since this call, so none is still stuck on a render the previous fault broke
    /// and the next fault meets the full load.
    pub(super) fn until_every_client_is_sending(&self) {
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

    /// Records how a request sent in `phase` ended.
    pub(super) fn record(&self, phase: usize, class: Class) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((phase, class));
    }

    /// A request body no earlier request used (a fresh anomaly factor), so it is cold.
    pub(super) fn unique(&self, body: &Value) -> Value {
        let salt = self.salt.fetch_add(1, Ordering::Relaxed);
        let mut b = body.clone();
        b["anomaly_k"] = json!(5.0 + f64::from(salt) * 1e-6);
        b
    }
}

/// Sets the flag when dropped.
pub(super) struct StopOnDrop<'a>(pub(super) &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The mixed load: symbols, intervals and every kind of source.
pub(super) fn bodies() -> Vec<Value> {
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

/// A client: renders one body after another until told to stop.
pub(super) fn client(shared: &Shared, bodies: &[Value], index: usize) {
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
pub(super) fn http() -> Result<reqwest::blocking::Client> {
    waveplot_testkit::http_client_builder()
        .timeout(ACCEPT + Duration::from_secs(10))
        .build()
        .context("HTTP client")
}
