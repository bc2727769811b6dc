//! The in-process bus: NATS semantics (wildcards, queue groups, request/reply, no
//! responders, at-most-once delivery) inside one process, for standalone mode, and
//! consumers whose refused messages come back after their delay, as a durable
//! consumer's do. Nothing outlives the process, so nothing more is needed.
//!
//! Like a NATS server, it drops messages for a subscriber that does not keep up
//! (its buffer is full) rather than letting one slow consumer stall every publisher.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{Acker, Delivery, Message};

/// Messages a subscriber may have waiting before new ones are dropped.
const BUFFER: usize = 4096;

/// The in-process bus. Clones share the same subscriptions.
#[derive(Debug, Clone, Default)]
pub struct LocalBus {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    subs: Mutex<Vec<Entry>>,
    next_id: AtomicU64,
    /// Rotates queue-group deliveries among members.
    turn: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    pattern: Vec<String>,
    queue: Option<String>,
    tx: Sender,
}

/// Where a subscriber's messages go, with the number of their delivery.
type Sender = mpsc::Sender<(Message, u32)>;

/// Delivers a refused message to its consumer again.
#[derive(Debug, Clone)]
pub(crate) struct Redeliver(Sender);

impl Redeliver {
    /// Delivers `message` as delivery `attempt` after `delay`, unless the consumer is
    /// gone by then.
    pub(crate) fn again(&self, message: Message, attempt: u32, delay: Duration) {
        let tx = self.0.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send((message, attempt)).await;
        });
    }
}

impl LocalBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Delivers a message; returns how many subscribers received it.
    pub(crate) fn publish(&self, subject: &str, reply: Option<String>, payload: Bytes) -> usize {
        let tokens: Vec<&str> = subject.split('.').collect();
        let message = Message {
            subject: subject.to_owned(),
            reply,
            payload,
        };
        let mut subs = self
            .inner
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        subs.retain(|e| !e.tx.is_closed());
        let matching: Vec<&Entry> = subs
            .iter()
            .filter(|e| matches(&e.pattern, &tokens))
            .collect();
        let mut delivered = 0;
        let mut groups: Vec<&str> = Vec::new();
        for entry in &matching {
            match &entry.queue {
                None => delivered += usize::from(deliver(entry, &message)),
                Some(q) if !groups.contains(&q.as_str()) => groups.push(q),
                Some(_) => {}
            }
        }
        for group in groups {
            let members: Vec<&&Entry> = matching
                .iter()
                .filter(|e| e.queue.as_deref() == Some(group))
                .collect();
            let turn = self.inner.turn.fetch_add(1, Ordering::Relaxed) as usize;
            delivered += usize::from(deliver(members[turn % members.len()], &message));
        }
        delivered
    }

    /// Subscribes to `subject`, optionally in a queue group.
    pub(crate) fn subscribe(
        &self,
        subject: &str,
        queue: Option<String>,
    ) -> impl Stream<Item = Message> + Send + use<> {
        let (_, rx) = self.enter(subject, queue);
        futures::StreamExt::map(ReceiverStream::new(rx), |(message, _)| message)
    }

    /// The messages on `subject` for consumer `name` (a queue group of that name),
    /// each as a [`Delivery`] that comes back after its delay when it is refused.
    pub(crate) fn consume(
        &self,
        subject: &str,
        name: &str,
    ) -> impl Stream<Item = Delivery> + Send + use<> {
        let (tx, rx) = self.enter(subject, Some(name.to_owned()));
        let redeliver = Redeliver(tx);
        futures::StreamExt::map(ReceiverStream::new(rx), move |(message, attempt)| {
            Delivery {
                message,
                attempt,
                acker: Acker::Local(redeliver.clone()),
            }
        })
    }

    /// Registers a subscriber; returns its sender and receiver.
    fn enter(
        &self,
        subject: &str,
        queue: Option<String>,
    ) -> (Sender, mpsc::Receiver<(Message, u32)>) {
        let (tx, rx) = mpsc::channel(BUFFER);
        let entry = Entry {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            pattern: subject.split('.').map(str::to_owned).collect(),
            queue,
            tx: tx.clone(),
        };
        self.inner
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
        (tx, rx)
    }

    /// Publishes a request with a private inbox subject as its reply; the inbox's
    /// messages, or `None` when nobody listens.
    pub(crate) fn request(
        &self,
        subject: &str,
        payload: Bytes,
    ) -> Option<impl Stream<Item = Message> + Send + use<>> {
        let inbox = format!(
            "_INBOX.local.{}",
            self.inner.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let replies = self.subscribe(&inbox, None);
        (self.publish(subject, Some(inbox), payload) > 0).then_some(replies)
    }
}

fn deliver(entry: &Entry, message: &Message) -> bool {
    match entry.tx.try_send((message.clone(), 1)) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(subject = %message.subject, subscriber = entry.id, "slow subscriber: message dropped");
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// NATS subject matching: `*` matches one token, a final `>` one or more.
fn matches(pattern: &[String], subject: &[&str]) -> bool {
    let mut s = subject.iter();
    for (i, p) in pattern.iter().enumerate() {
        if p == ">" {
            return i < subject.len();
        }
        match s.next() {
            Some(t) if p == "*" || p == t => {}
            _ => return false,
        }
    }
    s.next().is_none()
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn pat(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn wildcards_match_like_nats() {
        let m = |p: &str, s: &str| matches(&pat(p), &s.split('.').collect::<Vec<_>>());
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "a.b.c"));
        assert!(m("a.*", "a.b"));
        assert!(!m("a.*", "a.b.c"));
        assert!(m("a.>", "a.b.c"));
        assert!(!m("a.>", "a"));
        assert!(m("a.*.c", "a.x.c"));
        assert!(!m("a.*.c", "a.x.d"));
    }

    #[tokio::test]
    async fn every_plain_subscriber_gets_a_message_and_a_queue_group_gets_it_once() {
        let bus = LocalBus::new();
        let mut all = Box::pin(bus.subscribe("w.done.*", None));
        let mut q1 = Box::pin(bus.subscribe("w.done.*", Some("g".into())));
        let mut q2 = Box::pin(bus.subscribe("w.done.*", Some("g".into())));
        for i in 0..10u8 {
            assert_eq!(bus.publish("w.done.01", None, Bytes::from(vec![i])), 2);
        }
        for i in 0..10u8 {
            assert_eq!(all.next().await.unwrap().payload[0], i);
        }
        let mut split = 0;
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(20), q1.next()).await {
            split += 1;
        }
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(20), q2.next()).await {
            split += 1;
        }
        assert_eq!(split, 10, "the group received each message exactly once");
    }

    #[tokio::test]
    async fn a_request_without_subscribers_fails_at_once_and_a_reply_arrives() {
        let bus = LocalBus::new();
        assert!(bus.request("w.render", Bytes::new()).is_none());

        let mut server = Box::pin(bus.subscribe("w.render", Some("prepare".into())));
        let echo = bus.clone();
        tokio::spawn(async move {
            let m = server.next().await.unwrap();
            echo.publish(&m.reply.unwrap(), None, Bytes::from_static(b"ok"));
        });
        let mut replies = Box::pin(bus.request("w.render", Bytes::new()).unwrap());
        assert_eq!(&replies.next().await.unwrap().payload[..], b"ok");
    }

    #[tokio::test]
    async fn dropping_a_subscription_unsubscribes() {
        let bus = LocalBus::new();
        let sub = bus.subscribe("x", None);
        drop(sub);
        assert_eq!(bus.publish("x", None, Bytes::new()), 0);
    }
}
