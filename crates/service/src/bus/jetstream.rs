//! The durable layer on NATS: one JetStream stream keeps every event, plotters take
//! theirs through durable pull consumers, the gateway follows the stream with an
//! ordered consumer, and events are published with the server's acknowledgement.
//!
//! # Why this shape
//!
//! - **Limits retention**, bounded by [`EventLimits`]: a work-queue stream cannot
//!   feed six plotters the same `prepared` event, and an interest stream drops an
//!   event for which no consumer exists yet (a plotter still starting).
//! - The render requests stay out of the stream ([`Subjects::events`]): a stream
//!   answers a request on a subject it keeps with its own acknowledgement.
//! - Only what nats-server 2.9 has (Debian's, which the tests run): one filter subject
//!   per consumer, no per-message TTL.
//! - Each service sets the stream up at start (create or update, idempotent), so a
//!   NATS server with JetStream enabled (`nats-server -js -sd DIR`) is all it takes.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use waveplot_protocol::{MAX_MESSAGE_BYTES, Subjects};

use super::{BusError, Delivery, Message};

/// How much the event stream keeps; the oldest events go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    /// Events older than this are deleted; a consumer down for longer misses them.
    pub max_age: Duration,
    /// The most bytes the stream keeps on the server's disk.
    pub max_bytes: u64,
}

impl Default for EventLimits {
    /// An hour and 64 MiB: about 30 000 renders' events, far more than an hour of a
    /// board's work, and little on an SD card.
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(3600),
            max_bytes: 64 << 20,
        }
    }
}

/// How long a delivered event may go without an acknowledgement (or a progress
/// report, which the serve loop sends every third of it) before the server gives it
/// to another replica: how soon the work of a killed service is done elsewhere, well
/// within a render's deadline. Work that stalls longer is done twice, which is
/// harmless (content-addressed keys).
pub const ACK_WAIT: Duration = Duration::from_secs(5);

/// How many times an event is delivered to a durable consumer at most; the serve
/// loop turns the last failure into a `failed` event.
pub const MAX_DELIVERIES: u32 = 5;

/// How long an event's message ID is remembered to drop a republished copy: longer
/// than publishing keeps trying ([`PUBLISH_PATIENCE`]), so a retried publish never
/// makes a second copy.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// How long one publish waits for the server's acknowledgement before it is sent
/// again with the same message ID.
const PUBLISH_ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// How long publishing keeps trying through an outage of the server: beyond a
/// render's default deadline, after which nobody waits for the event.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(40);

/// Pause before setting a consumer up again after it failed (the server restarting).
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(250);

/// The JetStream context of `client`, with acknowledgements awaited for at most
/// [`PUBLISH_ACK_TIMEOUT`].
fn context(client: &async_nats::Client) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(PUBLISH_ACK_TIMEOUT)
        .build(client.clone())
}

/// The stream's configuration for `subjects` within `limits`.
fn config(subjects: &Subjects, limits: EventLimits) -> Config {
    Config {
        name: subjects.events_stream(),
        description: Some("waveplot's accepted, prepared, done and failed events".into()),
        subjects: subjects.events().to_vec(),
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        max_age: limits.max_age,
        max_bytes: i64::try_from(limits.max_bytes).unwrap_or(i64::MAX),
        max_message_size: i32::try_from(MAX_MESSAGE_BYTES + 4096).unwrap_or(i32::MAX),
        duplicate_window: DUPLICATE_WINDOW.min(limits.max_age),
        ..Config::default()
    }
}

/// Creates the event stream, or updates it to `limits` (the last service started
/// sets them; run them all with the same settings).
pub(crate) async fn ensure(
    client: &async_nats::Client,
    subjects: &Subjects,
    limits: EventLimits,
) -> Result<(), BusError> {
    context(client)
        .create_or_update_stream(config(subjects, limits))
        .await
        .map(drop)
        .map_err(|e| BusError::Stream {
            stream: subjects.events_stream(),
            source: Box::new(e),
        })
}

/// Publishes `payload` on `subject` into the stream and waits for the server to
/// store it, sending it again with the same `msg_id` (which the stream de-duplicates)
/// while the server does not answer, for up to [`PUBLISH_PATIENCE`].
pub(crate) async fn publish(
    client: &async_nats::Client,
    subject: String,
    payload: Bytes,
    msg_id: &str,
) -> Result<(), BusError> {
    let js = context(client);
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let message = PublishMessage::build()
            .payload(payload.clone())
            .message_id(msg_id)
            .header("Content-Type", "application/json");
        let outcome = match js.send_publish(subject.clone(), message).await {
            Ok(ack) => ack.await.map(drop).map_err(|e| {
                let retry = matches!(
                    e.kind(),
                    PublishErrorKind::TimedOut | PublishErrorKind::StreamNotFound
                );
                (
                    retry,
                    Box::new(e) as Box<dyn std::error::Error + Send + Sync>,
                )
            }),
            Err(e) => {
                let retry = !matches!(
                    e.kind(),
                    PublishErrorKind::MaxPayloadExceeded | PublishErrorKind::Other
                );
                Err((retry, Box::new(e) as _))
            }
        };
        match outcome {
            Ok(()) => {
                metrics::histogram!("waveplot_publish_ack_seconds")
                    .record(started.elapsed().as_secs_f64());
                return Ok(());
            }
            Err((true, e)) if started.elapsed() < PUBLISH_PATIENCE => {
                tracing::debug!(%subject, error = %e, "no acknowledgement yet; publishing again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err((_, source)) => {
                return Err(BusError::Io {
                    action: "publish",
                    subject,
                    source,
                });
            }
        }
    }
}

/// The events on `filter` through the durable consumer `name`, shared by every
/// replica that asks for the same name (the server divides the events among them),
/// pulled `batch` at a time so that no replica hoards events whose timers run out.
/// A consumer made here starts at the stream's oldest event, so that events
/// published before the first replica started are not lost. The consumer is set up
/// again whenever it fails (the server restarting); the stream ends when the caller
/// drops it.
pub(crate) async fn consume(
    client: &async_nats::Client,
    subjects: &Subjects,
    name: &str,
    filter: String,
    batch: usize,
) -> Result<mpsc::Receiver<Delivery>, BusError> {
    let stream_name = subjects.events_stream();
    let js = context(client);
    let config = pull::Config {
        durable_name: Some(name.to_owned()),
        description: Some("shared by the replicas of one waveplot service".into()),
        filter_subject: filter,
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_deliver: i64::from(MAX_DELIVERIES),
        deliver_policy: DeliverPolicy::All,
        max_ack_pending: 256,
        ..pull::Config::default()
    };
    let error = |e: Box<dyn std::error::Error + Send + Sync>| BusError::Stream {
        stream: stream_name.clone(),
        source: e,
    };
    let consumer = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| error(Box::new(e)))?
        .create_consumer(config.clone())
        .await
        .map_err(|e| error(Box::new(e)))?;
    let (tx, rx) = mpsc::channel(1);
    let batch = batch.max(1);
    tokio::spawn(async move {
        let mut consumer = Some(consumer);
        while !tx.is_closed() {
            let current = match consumer.take() {
                Some(c) => c,
                None => match js.get_stream(&stream_name).await {
                    Ok(stream) => match stream.create_consumer(config.clone()).await {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::debug!(error = %e, "the durable consumer is not back yet");
                            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                            continue;
                        }
                    },
                    Err(e) => {
                        tracing::debug!(error = %e, "the event stream is not back yet");
                        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                        continue;
                    }
                },
            };
            let messages = current
                .stream()
                .max_messages_per_batch(batch)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(15))
                .messages()
                .await;
            let mut messages = match messages {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot pull events; trying again");
                    tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                    continue;
                }
            };
            loop {
                // A consumer dropped by its service stops pulling at once.
                let next = tokio::select! {
                    next = messages.next() => next,
                    () = tx.closed() => return,
                };
                let Some(next) = next else { break };
                match next {
                    Ok(message) => {
                        let attempt = message
                            .info()
                            .map_or(1, |i| u32::try_from(i.delivered).unwrap_or(u32::MAX));
                        let (message, acker) = message.split();
                        let delivery = Delivery {
                            message: Message {
                                subject: message.subject.to_string(),
                                reply: None,
                                payload: message.payload,
                            },
                            attempt,
                            acker: super::Acker::Nats(Box::new(acker)),
                        };
                        if tx.send(delivery).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "pulling events failed; pulling again");
                        break;
                    }
                }
            }
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
    });
    Ok(rx)
}

/// Every event from now on, in the order the stream keeps them, through an ordered
/// consumer (no acknowledgements, nothing kept on the server for it). It is set up
/// again after the last event seen whenever it fails, so a restart of the server
/// loses nothing published meanwhile.
pub(crate) async fn follow(
    client: &async_nats::Client,
    subjects: &Subjects,
) -> Result<mpsc::Receiver<Message>, BusError> {
    let stream_name = subjects.events_stream();
    let js = context(client);
    let error = |e: Box<dyn std::error::Error + Send + Sync>| BusError::Stream {
        stream: stream_name.clone(),
        source: e,
    };
    let last = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| error(Box::new(e)))?
        .get_info()
        .await
        .map_err(|e| error(Box::new(e)))?
        .state
        .last_sequence;
    let name = stream_name.clone();
    let open = move |after: u64| {
        let (js, stream_name) = (js.clone(), name.clone());
        async move {
            let config = pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                },
                ..pull::OrderedConfig::default()
            };
            let stream = js.get_stream(&stream_name).await.map_err(Box::new)?;
            let consumer = stream.create_consumer(config).await.map_err(Box::new)?;
            consumer
                .messages()
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        }
    };
    let mut first = Some(open(last).await.map_err(error)?);
    let client = client.clone();
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let mut last = last;
        while !tx.is_closed() {
            let messages = match first.take() {
                Some(m) => Ok(m),
                None => open(last).await,
            };
            let mut messages = match messages {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(error = %e, "the event stream is not back yet");
                    tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                    continue;
                }
            };
            let connects = client
                .statistics()
                .connects
                .load(std::sync::atomic::Ordering::Relaxed);
            loop {
                // The ordered consumer notices a restarted server only after two
                // missed heartbeats (30 s); the connection coming back says it at once.
                let next = tokio::select! {
                    next = messages.next() => next,
                    () = tx.closed() => return,
                    () = reconnected(&client, connects) => {
                        tracing::info!("the bus is back; following the events again after the last one seen");
                        break;
                    }
                };
                let Some(next) = next else { break };
                match next {
                    Ok(message) => {
                        if let Ok(info) = message.info() {
                            last = info.stream_sequence;
                        }
                        let message = Message {
                            subject: message.subject.to_string(),
                            reply: None,
                            payload: message.payload.clone(),
                        };
                        if tx.send(message).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "following the events failed; following again after the last one seen");
                        break;
                    }
                }
            }
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
    });
    Ok(rx)
}

/// Returns once the client has connected more than `connects` times in all.
async fn reconnected(client: &async_nats::Client, connects: u64) {
    let stats = client.statistics();
    while stats.connects.load(std::sync::atomic::Ordering::Relaxed) <= connects {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Acknowledges, refuses for later or reports progress on one delivery of a durable
/// consumer; a failure is logged (the server redelivers an event that is not acked).
pub(crate) async fn settle(acker: &jetstream::message::Acker, kind: AckKind) {
    if let Err(e) = acker.ack_with(kind).await {
        tracing::warn!(error = %e, "could not acknowledge an event");
    }
}
