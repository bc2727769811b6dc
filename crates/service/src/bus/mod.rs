//! The message bus: NATS in a deployment, an in-process bus in standalone mode.
//!
//! Both speak the same subset of NATS — publish, subscribe with `*`/`>` wildcards,
//! queue groups, request/reply with "no responders" — so the services run the same
//! code on either. Messages are published with `Content-Type: application/json` and a
//! `Nats-Msg-Id` header, so JetStream can de-duplicate them if a stream is configured.

mod local;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use thiserror::Error;
use waveplot_protocol::{Message as Contract, Subjects};

pub use local::LocalBus;

/// A message as a subscriber receives it.
#[derive(Debug, Clone)]
pub struct Message {
    /// The subject it was published on.
    pub subject: String,
    /// Where to send a reply, for requests.
    pub reply: Option<String>,
    /// The payload.
    pub payload: Bytes,
}

/// What can go wrong on the bus.
#[derive(Debug, Error)]
pub enum BusError {
    /// The NATS server could not be reached.
    #[error("cannot connect to NATS at {url} (is nats-server running and NATS_URL right?)")]
    Connect {
        /// The server URL.
        url: String,
        /// The client's error.
        #[source]
        source: async_nats::ConnectError,
    },
    /// A publish, subscribe or flush failed (the connection is gone or the payload too large).
    #[error("bus {action} failed on {subject}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The subject.
        subject: String,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Nobody subscribes to the request's subject: the service that answers it is down.
    #[error("no responders on {subject}")]
    NoResponders {
        /// The request subject.
        subject: String,
    },
    /// The request got no reply in time.
    #[error("no reply on {subject} within {timeout:?}")]
    Timeout {
        /// The request subject.
        subject: String,
        /// How long it waited.
        timeout: Duration,
    },
}

/// The longest pause between attempts to reconnect to NATS.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// A connection to the bus. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub enum Bus {
    /// A NATS server.
    Nats(async_nats::Client),
    /// The in-process bus of standalone mode.
    Local(LocalBus),
}

impl Bus {
    /// Connects to NATS, naming the connection after the service (it shows in the
    /// server's monitoring). Reconnects by itself after the server comes back, trying
    /// at least once a second (async-nats backs off to 4 s by default, which would
    /// leave the services of a restarted bus not hearing each other for seconds).
    pub async fn connect(url: &str, name: &str) -> Result<Bus, BusError> {
        async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(|attempts| {
                let exp = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
                Duration::from_millis(2_u64.saturating_pow(exp)).min(MAX_RECONNECT_DELAY)
            })
            .connect(url)
            .await
            .map(Bus::Nats)
            .map_err(|source| BusError::Connect {
                url: url.to_owned(),
                source,
            })
    }

    /// True while the connection is up (always, for the in-process bus).
    pub fn is_connected(&self) -> bool {
        match self {
            Bus::Nats(c) => c.connection_state() == async_nats::connection::State::Connected,
            Bus::Local(_) => true,
        }
    }

    /// Publishes raw bytes, with the JSON content type and `msg_id` as `Nats-Msg-Id`.
    pub async fn publish(
        &self,
        subject: String,
        payload: Bytes,
        msg_id: &str,
    ) -> Result<(), BusError> {
        let io = |e: async_nats::PublishError, subject: &str| BusError::Io {
            action: "publish",
            subject: subject.to_owned(),
            source: Box::new(e),
        };
        match self {
            Bus::Nats(c) => {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Content-Type", "application/json");
                headers.insert("Nats-Msg-Id", msg_id);
                c.publish_with_headers(subject.clone(), headers, payload)
                    .await
                    .map_err(|e| io(e, &subject))
            }
            Bus::Local(l) => {
                l.publish(&subject, None, payload);
                Ok(())
            }
        }
    }

    /// Publishes a contract message on its own subject, with its own message ID
    /// ([`Contract::message_id`]) so that a JetStream stream can de-duplicate.
    pub async fn send<M: Contract>(
        &self,
        subjects: &Subjects,
        message: &M,
    ) -> Result<(), BusError> {
        self.publish(
            message.subject(subjects),
            message.encode().into(),
            &message.message_id(),
        )
        .await
    }

    /// Answers a request at its reply subject.
    pub async fn reply(&self, reply_to: String, payload: Bytes) -> Result<(), BusError> {
        match self {
            Bus::Nats(c) => c
                .publish(reply_to.clone(), payload)
                .await
                .map_err(|e| BusError::Io {
                    action: "reply",
                    subject: reply_to,
                    source: Box::new(e),
                }),
            Bus::Local(l) => {
                l.publish(&reply_to, None, payload);
                Ok(())
            }
        }
    }

    /// Subscribes to `subject` (wildcards allowed); with `queue`, each message goes to
    /// one member of the group only.
    pub async fn subscribe(
        &self,
        subject: String,
        queue: Option<String>,
    ) -> Result<Subscription, BusError> {
        let stream: Pin<Box<dyn Stream<Item = Message> + Send>> = match self {
            Bus::Nats(c) => {
                let sub = match queue {
                    Some(q) => c.queue_subscribe(subject.clone(), q).await,
                    None => c.subscribe(subject.clone()).await,
                }
                .map_err(|e| BusError::Io {
                    action: "subscribe",
                    subject,
                    source: Box::new(e),
                })?;
                Box::pin(sub.map(|m| Message {
                    subject: m.subject.to_string(),
                    reply: m.reply.map(|r| r.to_string()),
                    payload: m.payload,
                }))
            }
            Bus::Local(l) => Box::pin(l.subscribe(&subject, queue)),
        };
        Ok(Subscription(stream))
    }

    /// Sends a request and waits for the first reply. Fails at once with
    /// [`BusError::NoResponders`] when nobody listens, and with [`BusError::Timeout`]
    /// when nobody answers in time.
    pub async fn request(
        &self,
        subject: String,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, BusError> {
        match self {
            Bus::Nats(c) => {
                let request = async_nats::Request::new()
                    .payload(payload)
                    .timeout(Some(timeout));
                c.send_request(subject.clone(), request)
                    .await
                    .map(|m| m.payload)
                    .map_err(|e| match e.kind() {
                        async_nats::RequestErrorKind::NoResponders => {
                            BusError::NoResponders { subject }
                        }
                        async_nats::RequestErrorKind::TimedOut => {
                            BusError::Timeout { subject, timeout }
                        }
                        _ => BusError::Io {
                            action: "request",
                            subject,
                            source: Box::new(e),
                        },
                    })
            }
            Bus::Local(l) => l.request(&subject, payload, timeout).await,
        }
    }

    /// Waits until the server has processed everything this connection sent so far,
    /// subscriptions included, so that messages published afterwards by anyone reach
    /// them. Writing the buffer out is not enough: the server handles each connection
    /// on its own, so a message from another connection can overtake a subscription
    /// that is still in flight. A message to ourselves, received back, proves the
    /// server has handled every earlier command of this connection.
    pub async fn flush(&self) -> Result<(), BusError> {
        let Bus::Nats(c) = self else {
            return Ok(());
        };
        let inbox = c.new_inbox();
        let io = |e: Box<dyn std::error::Error + Send + Sync>| BusError::Io {
            action: "flush",
            subject: inbox.clone(),
            source: e,
        };
        let mut echo = c
            .subscribe(inbox.clone())
            .await
            .map_err(|e| io(Box::new(e)))?;
        c.publish(inbox.clone(), Bytes::new())
            .await
            .map_err(|e| io(Box::new(e)))?;
        c.flush().await.map_err(|e| io(Box::new(e)))?;
        match tokio::time::timeout(Duration::from_secs(5), echo.next()).await {
            Ok(Some(_)) => Ok(()),
            _ => Err(io("the server did not echo within 5 s".into())),
        }
    }

    /// Stops all subscriptions after their pending messages are handled, flushes and
    /// closes the connection: the last step of a graceful shutdown.
    pub async fn drain(&self) {
        if let Bus::Nats(c) = self {
            if let Err(e) = c.drain().await {
                tracing::warn!(error = %e, "draining the NATS connection failed");
            }
        }
    }
}

/// A stream of messages on a subscription; dropping it unsubscribes.
pub struct Subscription(Pin<Box<dyn Stream<Item = Message> + Send>>);

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

impl Stream for Subscription {
    type Item = Message;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.0.as_mut().poll_next(cx)
    }
}
