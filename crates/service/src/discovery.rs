//! Service discovery through the NATS service API ("micro"): every service instance
//! answers `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` (each also with the service's name,
//! and with its name and instance ID), so `nats micro ls` lists prepare, each plotter
//! and the gateway, and `nats micro stats waveplot-prepare` shows what they handled.
//!
//! async-nats has a service module, but its endpoint counters only count requests that
//! arrive on the endpoint's own core-NATS subscription and are answered through it.
//! waveplot's work mostly arrives through JetStream consumers, and its requests
//! through the serve loop ([`crate::serve`](mod@crate::serve)), which records each message it settles
//! here; this module answers the three verbs with those numbers, in the documents the
//! service API defines (`io.nats.micro.v1.*_response`).
//!
//! An instance's service name is `waveplot-<role>` (`waveplot-prepare`,
//! `waveplot-plotter-02a`, `waveplot-gateway`): instances of one name are replicas of
//! each other. Its metadata names the subject prefix, so deployments sharing a server
//! tell theirs apart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, BusError};

/// The service API's verbs.
const VERBS: [&str; 3] = ["PING", "INFO", "STATS"];
/// The most requests an instance answers per second; more are dropped, so a flood of
/// them never competes with the service's own messages on its connection.
const MAX_ANSWERS_PER_SECOND: u32 = 20;

/// The answers left in the current second.
#[derive(Debug)]
struct Budget {
    second: Instant,
    used: u32,
}

impl Budget {
    fn new(now: Instant) -> Self {
        Self {
            second: now,
            used: 0,
        }
    }

    /// Whether one more answer fits at `now`.
    fn take(&mut self, now: Instant) -> bool {
        if now.duration_since(self.second) >= Duration::from_secs(1) {
            *self = Self::new(now);
        }
        let fits = self.used < MAX_ANSWERS_PER_SECOND;
        self.used += u32::from(fits);
        fits
    }
}

/// One instance of a service, with the endpoints its serve loops registered.
#[derive(Debug, Clone)]
pub struct Discovery {
    inner: Arc<Instance>,
}

#[derive(Debug)]
struct Instance {
    name: String,
    id: String,
    description: String,
    metadata: BTreeMap<String, String>,
    started: jiff::Timestamp,
    endpoints: Mutex<Vec<Arc<Endpoint>>>,
}

/// Something an instance serves (a subscription or consumer of its serve loop), with
/// what it handled.
#[derive(Debug)]
pub struct Endpoint {
    name: String,
    subject: String,
    queue_group: String,
    counters: Mutex<Counters>,
}

#[derive(Debug, Default, Clone)]
struct Counters {
    requests: u64,
    errors: u64,
    processing: Duration,
    last_error: String,
}

impl Endpoint {
    /// Records one message handled in `took`, with the reason it failed, if it did.
    pub fn record(&self, took: Duration, error: Option<&str>) {
        let mut c = self
            .counters
            .lock()
            .expect("never poisoned: no panics inside");
        c.requests += 1;
        c.processing += took;
        if let Some(reason) = error {
            c.errors += 1;
            reason.clone_into(&mut c.last_error);
        }
    }
}

/// `ping_response`: who answers.
#[derive(Debug, Serialize)]
struct Ping<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    id: &'a str,
    version: &'static str,
    metadata: &'a BTreeMap<String, String>,
}

/// One endpoint in an `info_response`.
#[derive(Debug, Serialize)]
struct EndpointInfo<'a> {
    name: &'a str,
    subject: &'a str,
    queue_group: &'a str,
}

/// One endpoint in a `stats_response`; times in nanoseconds.
#[derive(Debug, Serialize)]
struct EndpointStats<'a> {
    name: &'a str,
    subject: &'a str,
    queue_group: &'a str,
    num_requests: u64,
    num_errors: u64,
    processing_time: u128,
    average_processing_time: u128,
    last_error: String,
}

impl Discovery {
    /// An instance of the service `waveplot-<role>`, with a new instance ID; `prefix`
    /// is the deployment's subject prefix, kept in its metadata.
    pub fn new(role: &str, description: impl Into<String>, prefix: &str) -> Self {
        let metadata = BTreeMap::from([("subject_prefix".to_owned(), prefix.to_owned())]);
        Self {
            inner: Arc::new(Instance {
                name: format!("waveplot-{role}"),
                id: nuid::next().to_string(),
                description: description.into(),
                metadata,
                started: jiff::Timestamp::now(),
                endpoints: Mutex::new(Vec::new()),
            }),
        }
    }

    /// This instance's ID.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Registers an endpoint: `name` (letters, digits, `-`, `_`) serving `subject`,
    /// in the queue group `queue_group` (empty for none).
    pub fn endpoint(&self, name: &str, subject: &str, queue_group: &str) -> Arc<Endpoint> {
        let endpoint = Arc::new(Endpoint {
            name: name.to_owned(),
            subject: subject.to_owned(),
            queue_group: queue_group.to_owned(),
            counters: Mutex::default(),
        });
        self.endpoints().push(endpoint.clone());
        endpoint
    }

    fn endpoints(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Endpoint>>> {
        self.inner
            .endpoints
            .lock()
            .expect("never poisoned: no panics inside")
    }

    fn ping(&self, kind: &'static str) -> Ping<'_> {
        Ping {
            kind,
            name: &self.inner.name,
            id: &self.inner.id,
            version: env!("CARGO_PKG_VERSION"),
            metadata: &self.inner.metadata,
        }
    }

    /// The answer to `verb` (`PING`, `INFO` or `STATS`).
    fn answer(&self, verb: &str) -> serde_json::Value {
        let endpoints = self.endpoints().clone();
        let mut doc = match verb {
            "PING" => serde_json::to_value(self.ping("io.nats.micro.v1.ping_response")),
            "INFO" => serde_json::to_value(self.ping("io.nats.micro.v1.info_response")),
            _ => serde_json::to_value(self.ping("io.nats.micro.v1.stats_response")),
        }
        .expect("plain data always serializes");
        match verb {
            "INFO" => {
                doc["description"] = self.inner.description.clone().into();
                let list: Vec<EndpointInfo<'_>> = endpoints
                    .iter()
                    .map(|e| EndpointInfo {
                        name: &e.name,
                        subject: &e.subject,
                        queue_group: &e.queue_group,
                    })
                    .collect();
                doc["endpoints"] = serde_json::to_value(list).expect("plain data");
            }
            "STATS" => {
                doc["started"] = self.inner.started.to_string().into();
                let list: Vec<EndpointStats<'_>> = endpoints
                    .iter()
                    .map(|e| {
                        let c = e.counters.lock().expect("never poisoned").clone();
                        let total = c.processing.as_nanos();
                        EndpointStats {
                            name: &e.name,
                            subject: &e.subject,
                            queue_group: &e.queue_group,
                            num_requests: c.requests,
                            num_errors: c.errors,
                            processing_time: total,
                            average_processing_time: total
                                .checked_div(u128::from(c.requests))
                                .unwrap_or(0),
                            last_error: c.last_error,
                        }
                    })
                    .collect();
                doc["endpoints"] = serde_json::to_value(list).expect("plain data");
            }
            _ => {}
        }
        doc
    }

    /// Answers the service API's requests for this instance on `bus` until `shutdown`.
    /// Every instance answers (no queue group), whatever the request's payload, into
    /// an inbox (`_INBOX.…`) only, and at most `MAX_ANSWERS_PER_SECOND` a second.
    pub async fn serve(&self, bus: &Bus, shutdown: CancellationToken) -> Result<(), BusError> {
        let mut subscriptions = Vec::new();
        for verb in VERBS {
            for subject in [
                format!("$SRV.{verb}"),
                format!("$SRV.{verb}.{}", self.inner.name),
                format!("$SRV.{verb}.{}.{}", self.inner.name, self.inner.id),
            ] {
                subscriptions.push(bus.subscribe(subject, None).await?);
            }
        }
        bus.flush().await?;
        let mut requests = futures::stream::select_all(subscriptions);
        let mut budget = Budget::new(Instant::now());
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = requests.next() => match next {
                    Some(message) => message,
                    None => return Ok(()),
                },
            };
            // A reply subject outside the inboxes would make this service publish
            // wherever the requester says; the bus permissions forbid it too.
            let Some(reply) = message.reply.filter(|r| r.starts_with("_INBOX.")) else {
                continue;
            };
            if !budget.take(Instant::now()) {
                continue;
            }
            let verb = message.subject.split('.').nth(1).unwrap_or("PING");
            let body = Bytes::from(self.answer(verb).to_string());
            if let Err(e) = bus.reply(reply, body).await {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "could not answer a service discovery request"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::LocalBus;

    #[test]
    fn at_most_so_many_answers_a_second() {
        let start = Instant::now();
        let mut budget = Budget::new(start);
        let half = start + Duration::from_millis(500);
        let given = (0..30).filter(|_| budget.take(half)).count();
        assert_eq!(given, MAX_ANSWERS_PER_SECOND as usize);
        assert!(budget.take(start + Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn answers_into_inboxes_only() {
        let local = LocalBus::new();
        let bus = Bus::Local(local.clone());
        let instance = Discovery::new("prepare", "", "waveplot");
        let last = format!("$SRV.STATS.waveplot-prepare.{}", instance.id());
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (bus, stop) = (bus.clone(), stop.clone());
            async move { instance.serve(&bus, stop).await }
        });
        let mut inbox = bus.subscribe("_INBOX.t.>".into(), None).await.unwrap();
        let mut deployment = bus.subscribe("waveplot.>".into(), None).await.unwrap();
        // Asked on the subject it subscribes to last, until it listens; then into a
        // subject of the deployment, and once more into an inbox.
        while local.publish(&last, Some("_INBOX.t.1".into()), Bytes::new()) == 0 {
            tokio::task::yield_now().await;
        }
        local.publish("$SRV.PING", Some("waveplot.done.01".into()), Bytes::new());
        local.publish("$SRV.INFO", Some("_INBOX.t.2".into()), Bytes::new());
        let first = inbox.next().await.unwrap();
        assert_eq!(first.subject, "_INBOX.t.1");
        let second = inbox.next().await.unwrap();
        assert_eq!(
            second.subject, "_INBOX.t.2",
            "answered in order, nothing between"
        );
        let stray = tokio::time::timeout(Duration::from_millis(100), deployment.next()).await;
        assert!(stray.is_err(), "answered into the deployment: {stray:?}");
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[test]
    fn stats_count_what_endpoints_recorded() {
        let d = Discovery::new("prepare", "analyses windows", "waveplot");
        let render = d.endpoint("render", "waveplot.render", "prepare");
        d.endpoint("prepare", "waveplot.accepted.>", "");
        render.record(Duration::from_millis(3), None);
        render.record(Duration::from_millis(5), Some("invalid interval '7m'"));
        let stats = d.answer("STATS");
        assert_eq!(stats["type"], "io.nats.micro.v1.stats_response");
        assert_eq!(stats["name"], "waveplot-prepare");
        assert_eq!(stats["metadata"]["subject_prefix"], "waveplot");
        let e = &stats["endpoints"][0];
        assert_eq!(e["num_requests"], 2);
        assert_eq!(e["num_errors"], 1);
        assert_eq!(e["processing_time"], 8_000_000);
        assert_eq!(e["average_processing_time"], 4_000_000);
        assert_eq!(e["last_error"], "invalid interval '7m'");
        assert_eq!(stats["endpoints"][1]["num_requests"], 0);
        assert_eq!(stats["endpoints"][1]["average_processing_time"], 0);
        assert!(stats["started"].as_str().unwrap().ends_with('Z'));
        let info = d.answer("INFO");
        assert_eq!(info["type"], "io.nats.micro.v1.info_response");
        assert_eq!(info["description"], "analyses windows");
        assert_eq!(info["endpoints"][1]["subject"], "waveplot.accepted.>");
        assert_eq!(info["endpoints"][0]["queue_group"], "prepare");
        let ping = d.answer("PING");
        assert_eq!(ping["type"], "io.nats.micro.v1.ping_response");
        assert_eq!(ping["id"], d.id());
        assert!(ping.get("endpoints").is_none());
    }
}
