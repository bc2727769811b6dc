//! The message bus: NATS in a deployment, an in-process bus in standalone mode.
//!
//! Both speak the same subset of NATS — publish, subscribe with `*`/`>` wildcards,
//! queue groups, request/reply with "no responders" — and the same durable layer:
//! events are kept by a stream, taken through durable consumers that are acknowledged
//! and redelivered, and followed in order ([`jetstream`] on NATS; in process, a
//! refused delivery comes back after its delay). The services run the same code on
//! either. Events are published with `Content-Type: application/json` and a
//! `Nats-Msg-Id` header, by which the stream drops a republished copy.

pub mod jetstream;
mod local;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;
use waveplot_protocol::{Message as Contract, Subjects};

pub use jetstream::{ACK_WAIT, EventLimits, MAX_DELIVERIES};
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
    /// The NATS server refused the login: the user is unknown, the password wrong, or
    /// the server wants a user and none was given.
    #[error(
        "NATS at {url} refused the login as {user} (check NATS_USER and NATS_PASSWORD or NATS_PASSWORD_FILE, or NATS_CREDS)"
    )]
    Login {
        /// The server URL.
        url: String,
        /// The user, or `anonymous`.
        user: String,
        /// The client's error.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The credentials file (`NATS_CREDS`) cannot be read or holds no JWT and seed.
    #[error(
        "cannot read the NATS credentials file {path} (NATS_CREDS), or it holds no user JWT and nkey seed"
    )]
    Credentials {
        /// The file.
        path: std::path::PathBuf,
        /// What the client said.
        #[source]
        source: std::io::Error,
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
    /// The event stream or a consumer of it could not be set up.
    #[error(
        "cannot use the JetStream stream {stream} of the events (does nats-server run with JetStream, `nats-server -js -sd DIR`?)"
    )]
    Stream {
        /// The stream's name.
        stream: String,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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

/// A NATS user and its password (`deploy/nats/nats.conf` has one user per role).
/// The password never shows in `Debug` output or logs.
#[derive(Debug, Clone)]
pub struct NatsLogin {
    /// The user name: letters, digits, `-` and `_` (it names the user's inboxes).
    pub user: String,
    /// The password.
    pub password: SecretString,
}

impl NatsLogin {
    /// A login, if `user` can name a subject token (letters, digits, `-`, `_`; at most
    /// 64) and `password` is not empty.
    pub fn new(user: &str, password: SecretString) -> Result<Self, String> {
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if user.is_empty() || user.len() > 64 || !user.chars().all(valid) {
            return Err(format!(
                "NATS user {user:?}: use 1 to 64 letters, digits, '-' or '_'"
            ));
        }
        if password.expose_secret().is_empty() {
            return Err(format!("the NATS password of {user} is empty"));
        }
        Ok(Self {
            user: user.to_owned(),
            password,
        })
    }
}

/// What the server says about the connection, in the service's log: a refused
/// publish or subscription is otherwise silent.
fn log_event(event: &async_nats::Event) {
    use async_nats::Event;
    match event {
        Event::ServerError(e) => tracing::warn!(error = %e, "the NATS server reported an error"),
        Event::ClientError(e) => tracing::warn!(error = %e, "the NATS client reported an error"),
        Event::SlowConsumer(sid) => {
            tracing::warn!(
                subscription = sid,
                "a NATS subscription fell behind and lost messages"
            );
        }
        Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
        Event::Connected => tracing::debug!("connected to NATS"),
        Event::LameDuckMode | Event::Draining | Event::Closed => {
            tracing::info!(event = %event, "NATS connection");
        }
    }
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
    /// Connects to NATS as `login` (anonymously with `None`), naming the connection
    /// after the service (it shows in the server's monitoring). Reconnects by itself
    /// after the server comes back, trying at least once a second (async-nats backs
    /// off to 4 s by default, which would leave the services of a restarted bus not
    /// hearing each other for seconds).
    ///
    /// A logged-in client takes its replies on inboxes under `_INBOX.<user>`, so the
    /// server's permissions can give each user its own inboxes and no other's
    /// (`deploy/nats/nats.conf`). What the server refuses later — a publish or
    /// subscription the user's permissions deny — is logged as a warning: NATS
    /// reports it on the connection, not to the call.
    pub async fn connect(
        url: &str,
        login: Option<&NatsLogin>,
        name: &str,
    ) -> Result<Bus, BusError> {
        Self::connect_with_ca(url, login, None, name).await
    }

    /// Like [`Bus::connect`], trusting the certificates in the PEM file `ca_file` too
    /// for a `tls://` server whose certificate a private CA signed (the system's roots
    /// are always trusted).
    pub async fn connect_with_ca(
        url: &str,
        login: Option<&NatsLogin>,
        ca_file: Option<&std::path::Path>,
        name: &str,
    ) -> Result<Bus, BusError> {
        let mut options = Self::options(ca_file, name);
        if let Some(login) = login {
            options = options
                .user_and_password(
                    login.user.clone(),
                    login.password.expose_secret().to_owned(),
                )
                .custom_inbox_prefix(format!("_INBOX.{}", login.user));
        }
        let user = login.map_or("anonymous", |l| &l.user);
        Self::open(options, url, user).await
    }

    /// Like [`Bus::connect_with_ca`], logging in with a NATS credentials file (a user
    /// JWT and its nkey seed, `NATS_CREDS`) for a server in operator mode, where the
    /// JWT carries the user's permissions. Replies come on inboxes under `_INBOX`: the
    /// JWT must allow the user to subscribe there.
    pub async fn connect_with_credentials(
        url: &str,
        credentials: &std::path::Path,
        ca_file: Option<&std::path::Path>,
        name: &str,
    ) -> Result<Bus, BusError> {
        let options = Self::options(ca_file, name)
            .credentials_file(credentials)
            .await
            .map_err(|source| BusError::Credentials {
                path: credentials.to_path_buf(),
                source,
            })?;
        let user = format!("the user of {}", credentials.display());
        Self::open(options, url, &user).await
    }

    /// What every connection sets: its name, timeouts, reconnection, event logging and
    /// the CA to trust.
    fn options(ca_file: Option<&std::path::Path>, name: &str) -> async_nats::ConnectOptions {
        let options = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(|attempts| {
                let exp = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
                Duration::from_millis(2_u64.saturating_pow(exp)).min(MAX_RECONNECT_DELAY)
            })
            .event_callback(|event| async move { log_event(&event) });
        match ca_file {
            Some(ca_file) => options.add_root_certificates(ca_file.to_path_buf()),
            None => options,
        }
    }

    /// Connects with `options`; a refused login names `user`.
    async fn open(
        options: async_nats::ConnectOptions,
        url: &str,
        user: &str,
    ) -> Result<Bus, BusError> {
        options.connect(url).await.map(Bus::Nats).map_err(|source| {
            if source.kind() == async_nats::ConnectErrorKind::AuthorizationViolation {
                BusError::Login {
                    url: url.to_owned(),
                    user: user.to_owned(),
                    source,
                }
            } else {
                BusError::Connect {
                    url: url.to_owned(),
                    source,
                }
            }
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

    /// Publishes an event on its own subject with its own message ID
    /// ([`Contract::message_id`]): on NATS into the event stream, waiting until the
    /// server has stored it and publishing it again with the same ID (which the
    /// stream de-duplicates) while the server is away, for up to 40 s.
    pub async fn send<M: Contract>(
        &self,
        subjects: &Subjects,
        message: &M,
    ) -> Result<(), BusError> {
        let (subject, payload) = (message.subject(subjects), message.encode().into());
        match self {
            Bus::Nats(c) => jetstream::publish(c, subject, payload, &message.message_id()).await,
            Bus::Local(l) => {
                l.publish(&subject, None, payload);
                Ok(())
            }
        }
    }

    /// Creates the stream that keeps the events of `subjects`, or updates it to
    /// `limits` (nothing to do in process). Every service calls it at start.
    pub async fn ensure_events(
        &self,
        subjects: &Subjects,
        limits: EventLimits,
    ) -> Result<(), BusError> {
        match self {
            Bus::Nats(c) => jetstream::ensure(c, subjects, limits).await,
            Bus::Local(_) => Ok(()),
        }
    }

    /// The events on `filter` through the durable consumer `name`, which every
    /// replica asking for the same name shares: each event goes to one of them, is
    /// delivered again until it is acknowledged ([`Delivery`]), at most
    /// [`MAX_DELIVERIES`] times, and waits in the stream while no replica runs. At
    /// most `batch` events are pulled ahead.
    pub async fn consume(
        &self,
        subjects: &Subjects,
        name: &str,
        filter: String,
        batch: usize,
    ) -> Result<Deliveries, BusError> {
        match self {
            Bus::Nats(c) => {
                let rx = jetstream::consume(c, subjects, name, filter, batch).await?;
                Ok(Deliveries(Box::pin(
                    tokio_stream::wrappers::ReceiverStream::new(rx),
                )))
            }
            Bus::Local(l) => Ok(Deliveries(Box::pin(l.consume(&filter, name)))),
        }
    }

    /// Every event of `subjects` from now on, in order; on NATS it survives a restart
    /// of the server without losing the events published meanwhile.
    pub async fn follow(&self, subjects: &Subjects) -> Result<Subscription, BusError> {
        match self {
            Bus::Nats(c) => {
                let rx = jetstream::follow(c, subjects).await?;
                Ok(Subscription(Box::pin(
                    tokio_stream::wrappers::ReceiverStream::new(rx),
                )))
            }
            Bus::Local(l) => {
                let events = subjects.events().map(|s| l.subscribe(&s, None));
                Ok(Subscription(Box::pin(futures::stream::select_all(
                    events.into_iter().map(Box::pin),
                ))))
            }
        }
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
        self.request_answer(subject, payload, timeout, |_| true)
            .await
    }

    /// Like [`Bus::request`], taking only a reply for which `is_answer` holds: others
    /// on the request's inbox are dropped (with a warning) and the wait goes on.
    ///
    /// A reply subject travels with the request and anyone who sees the request sees
    /// it; a service that answers whoever asks (prepare answers observers' watch
    /// requests) can be made to answer into another client's inbox. A client that
    /// checks what it gets (the request's ID in the reply) is not misled by that.
    pub async fn request_answer(
        &self,
        subject: String,
        payload: Bytes,
        timeout: Duration,
        is_answer: impl Fn(&[u8]) -> bool,
    ) -> Result<Bytes, BusError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut replies = match self {
            Bus::Nats(c) => {
                let inbox = c.new_inbox();
                let io =
                    |action: &'static str, source: Box<dyn std::error::Error + Send + Sync>| {
                        BusError::Io {
                            action,
                            subject: subject.clone(),
                            source,
                        }
                    };
                // The server handles a connection's commands in order: the subscription
                // is in place before the request goes out.
                let replies = c
                    .subscribe(inbox.clone())
                    .await
                    .map_err(|e| io("request", Box::new(e)))?;
                c.publish_with_reply(subject.clone(), inbox, payload)
                    .await
                    .map_err(|e| io("request", Box::new(e)))?;
                replies
                    .map(|m| {
                        if m.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                            None
                        } else {
                            Some(m.payload)
                        }
                    })
                    .boxed()
            }
            Bus::Local(l) => {
                let Some(replies) = l.request(&subject, payload) else {
                    return Err(BusError::NoResponders { subject });
                };
                replies.map(|m| Some(m.payload)).boxed()
            }
        };
        loop {
            match tokio::time::timeout_at(deadline, replies.next()).await {
                Ok(Some(Some(reply))) if is_answer(&reply) => return Ok(reply),
                Ok(Some(Some(_))) => {
                    tracing::warn!(
                        subject,
                        "a reply that does not answer this request was dropped"
                    );
                }
                Ok(Some(None)) => return Err(BusError::NoResponders { subject }),
                Ok(None) | Err(_) => return Err(BusError::Timeout { subject, timeout }),
            }
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

/// One delivery of an event to a durable consumer: settle it with [`Delivery::ack`]
/// once it is handled, or [`Delivery::nak`] to have it delivered again later.
pub struct Delivery {
    /// The event.
    pub message: Message,
    /// Which delivery of it this is, from 1.
    pub attempt: u32,
    acker: Acker,
}

/// How a delivery is settled.
pub(crate) enum Acker {
    /// A request or plain message: nothing to settle.
    None,
    /// JetStream's acknowledgement subject of the delivery.
    Nats(Box<async_nats::jetstream::message::Acker>),
    /// The in-process consumer, to deliver a refused message to again.
    Local(local::Redeliver),
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.message.subject)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A message that nothing settles (a request, or a message of the in-process bus
    /// outside a consumer), as its first delivery.
    pub fn unsettled(message: Message) -> Self {
        Self {
            message,
            attempt: 1,
            acker: Acker::None,
        }
    }

    /// Whether the bus delivers this message again when it is not acknowledged.
    pub fn is_durable(&self) -> bool {
        !matches!(self.acker, Acker::None)
    }

    /// It is handled: never deliver it again.
    pub async fn ack(&self) {
        if let Acker::Nats(a) = &self.acker {
            jetstream::settle(a, async_nats::jetstream::AckKind::Ack).await;
        }
    }

    /// It could not be handled now: deliver it again after `delay`.
    pub async fn nak(&self, delay: std::time::Duration) {
        match &self.acker {
            Acker::None => {}
            Acker::Nats(a) => {
                jetstream::settle(a, async_nats::jetstream::AckKind::Nak(Some(delay))).await;
            }
            Acker::Local(r) => r.again(self.message.clone(), self.attempt + 1, delay),
        }
    }

    /// It is still being worked on: restart its acknowledgement timer ([`ACK_WAIT`]).
    pub async fn progress(&self) {
        if let Acker::Nats(a) = &self.acker {
            jetstream::settle(a, async_nats::jetstream::AckKind::Progress).await;
        }
    }
}

/// The deliveries of a durable consumer; dropping it stops taking events.
pub struct Deliveries(Pin<Box<dyn Stream<Item = Delivery> + Send>>);

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deliveries")
    }
}

impl Stream for Deliveries {
    type Item = Delivery;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// Requests, which nothing settles, as deliveries.
impl From<Subscription> for Deliveries {
    fn from(subscription: Subscription) -> Self {
        Deliveries(Box::pin(subscription.map(Delivery::unsettled)))
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
