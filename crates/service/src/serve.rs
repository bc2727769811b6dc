//! The serve loop of the bus services. A [`Handler`] says what it subscribes to, how
//! it takes a message in ([`Handler::accept`], at once, e.g. answering a request) and
//! how it does the work ([`Handler::work`]); [`serve`] does the rest the same way for
//! every service: it registers the subscription before the service reports ready,
//! runs each message in its own task, bounds the work running at once by a number of
//! slots, publishes the typed event or a [`FailedEvent`] with the whole cause chain,
//! and stops taking messages at shutdown while the work in flight finishes.
//!
//! Requests come from a queue group and are answered at once; a failure is final.
//! Events come from the event stream through a durable consumer shared by the
//! replicas ([`Subscription::Events`]): a delivery is acknowledged once its outcome
//! is published, reports progress while it waits and works (so the server gives it
//! to another replica only when this one dies), and when it fails on the store or the
//! bus ([`Failure::is_transient`]) it is refused and comes back after 1, 2, 4 and 8 s;
//! the last of [`MAX_DELIVERIES`] failures is published as a `failed` event. Work is
//! idempotent (content-addressed keys), so a delivery that comes twice costs a lookup.
//!
//! Everything is bounded by the [`Capacity`]: at most `slots` jobs work, together
//! estimated at no more than its memory ([`Handler::memory`]), and at most
//! [`QUEUE_PER_SLOT`] × `slots` messages are held at once in any state (accepted,
//! gathering, waiting for a slot). Past that the loop stops reading its subscription,
//! and the messages wait in the bus client's bounded buffer instead of in tasks.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use waveplot_protocol::{FailedEvent, Message as Contract, PlotId, RequestId, Stage, Subjects, V1};

use crate::bus::{ACK_WAIT, BusError, Deliveries, Delivery, MAX_DELIVERIES, Message};
use crate::discovery::Endpoint;
use crate::health::Readiness;
use crate::{Context, StoreError};

/// Messages held at once per slot: accepted, gathering, or waiting for a slot.
pub const QUEUE_PER_SLOT: usize = 16;

/// How much work a service takes on at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Jobs working at once.
    pub slots: usize,
    /// MiB that the jobs working at once may take together, by their handler's
    /// estimate ([`Handler::memory`]). A job waits until its share is free; one
    /// estimated above the whole works alone, and its handler should refuse it when it
    /// is accepted, saying why.
    pub memory_mib: u32,
}

/// A message that could not be turned into its event: the request it belongs to (when
/// it names one) and why, with the whole cause chain.
#[derive(Debug)]
pub struct Failure {
    /// The request the message belongs to, if it could be read.
    pub request_id: Option<RequestId>,
    /// What went wrong.
    pub error: anyhow::Error,
    /// The handler says a later attempt may succeed, whatever the cause chain names
    /// (a remote API's rate limit, say); see [`Failure::is_transient`].
    pub retry: bool,
    /// The requester has been told already (a rejected request): the failure is
    /// counted, and no `failed` event is published.
    pub answered: bool,
}

impl Failure {
    /// A failure of `request_id`.
    pub fn new(request_id: Option<RequestId>, error: impl Into<anyhow::Error>) -> Self {
        Self {
            request_id,
            error: error.into(),
            retry: false,
            answered: false,
        }
    }

    /// A request of `request_id` that the handler refused in its answer to the
    /// requester, saying `reason`: counted as an error, never published.
    pub fn answered(request_id: Option<RequestId>, reason: impl Into<String>) -> Self {
        Self {
            answered: true,
            ..Self::new(request_id, anyhow::Error::msg(reason.into()))
        }
    }

    /// A failure of `request_id` that a later attempt may not meet, although it names
    /// neither the store nor the bus.
    pub fn transient(request_id: Option<RequestId>, error: impl Into<anyhow::Error>) -> Self {
        Self {
            retry: true,
            ..Self::new(request_id, error)
        }
    }

    /// Whether a later attempt may succeed: the handler said so
    /// ([`Failure::transient`]), or the failure came from the store or the bus (an
    /// outage, a lost connection, a read cut short), not from the message or the data,
    /// which would fail the same way every time.
    pub fn is_transient(&self) -> bool {
        self.retry
            || self.error.chain().any(|e| {
                e.is::<StoreError>()
                    || e.is::<BusError>()
                    || matches!(
                        e.downcast_ref::<waveplot_protocol::BlobError>(),
                        Some(waveplot_protocol::BlobError::Read(_))
                    )
            })
    }
}

/// The reason a `failed` event gives, which the page shows: the error's chain, down to
/// a failure of the store or the bus, which is named but not quoted (its text names
/// endpoints, keys and what an operator should check; the log has it).
fn public_reason(error: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in error.chain() {
        if cause.is::<StoreError>() {
            parts.push("the object store failed (the service's log says why)".to_owned());
            break;
        }
        if cause.is::<BusError>() {
            parts.push("the message bus failed (the service's log says why)".to_owned());
            break;
        }
        parts.push(cause.to_string());
    }
    parts.join(": ")
}

/// Where a handler's messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// Requests on `subject` (wildcards allowed), each to one member of the queue
    /// group `queue` shared by the replicas. Nothing keeps them: a failure is final.
    Requests {
        /// The subject.
        subject: String,
        /// The queue group.
        queue: String,
    },
    /// Events on `filter` kept by the event stream, through the durable consumer
    /// `consumer` shared by the replicas: acknowledged when handled, delivered again
    /// after a transient failure or when the replica holding them dies.
    Events {
        /// The consumer's name.
        consumer: String,
        /// The subject it takes, wildcards allowed.
        filter: String,
    },
}

/// How long a delivery that failed transiently waits before it comes back: 1 s
/// after its first delivery, doubling to 8 s before the last (15 s in all).
fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(1 << attempt.clamp(1, 4).saturating_sub(1))
}

/// What a bus service does with one message.
pub trait Handler: Send + Sync + 'static {
    /// Accepted work, waiting for a slot.
    type Job: Send + 'static;
    /// The event published when the work succeeds.
    type Event: Contract + Send + Sync;

    /// What to subscribe to, under `subjects`.
    fn subscription(&self, subjects: &Subjects) -> Subscription;

    /// The stage (and chart) that this handler's `failed` events name.
    fn origin(&self) -> (Stage, Option<PlotId>);

    /// Takes a message in, at once and without a slot: `Ok(Some(job))` to do the work,
    /// `Ok(None)` when there is nothing to do (not this handler's, or answered already),
    /// `Err` to publish a `failed` event.
    fn accept(
        &self,
        message: Message,
    ) -> impl Future<Output = Result<Option<Self::Job>, Failure>> + Send;

    /// Waits that cost little CPU (a remote API's rate limit, say), done before a work
    /// slot is taken so that they never hold one up, but with the job's memory
    /// ([`Handler::memory`]) already reserved, since what they gather takes memory.
    /// Nothing by default.
    fn gather(&self, job: Self::Job) -> impl Future<Output = Result<Self::Job, Failure>> + Send {
        std::future::ready(Ok(job))
    }

    /// The most memory gathering and working on `job` take, in bytes, as estimated
    /// when it is accepted; the job waits until that much of the [`Capacity`]'s memory
    /// is free before it gathers. Nothing by default.
    fn memory(&self, job: &Self::Job) -> u64 {
        let _ = job;
        0
    }

    /// Does the work of a job, holding one of the slots and its memory.
    fn work(&self, job: Self::Job) -> impl Future<Output = Result<Self::Event, Failure>> + Send;
}

/// A shared handler is a handler (the caller keeps a reference, e.g. to its counters).
impl<H: Handler> Handler for Arc<H> {
    type Job = H::Job;
    type Event = H::Event;
    fn subscription(&self, subjects: &Subjects) -> Subscription {
        H::subscription(self, subjects)
    }
    fn origin(&self) -> (Stage, Option<PlotId>) {
        H::origin(self)
    }
    fn accept(
        &self,
        message: Message,
    ) -> impl Future<Output = Result<Option<Self::Job>, Failure>> + Send {
        H::accept(self, message)
    }
    fn gather(&self, job: Self::Job) -> impl Future<Output = Result<Self::Job, Failure>> + Send {
        H::gather(self, job)
    }
    fn memory(&self, job: &Self::Job) -> u64 {
        H::memory(self, job)
    }
    fn work(&self, job: Self::Job) -> impl Future<Output = Result<Self::Event, Failure>> + Send {
        H::work(self, job)
    }
}

/// Serves `handler` on the bus until `shutdown`, with no more work at once than
/// `capacity` allows. Reports ready once the subscription or consumer is registered
/// with the server. After `shutdown` it stops taking messages and waits for the jobs
/// in flight (the caller bounds that wait, see [`crate::lifecycle`]; an event whose
/// job is cut off is delivered again). Fails only if the subscription is lost.
pub async fn serve<H: Handler>(
    ctx: Context,
    handler: H,
    capacity: Capacity,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let slots = capacity.slots.max(1);
    let (subject, endpoint, mut messages) = match handler.subscription(&ctx.subjects) {
        Subscription::Requests { subject, queue } => {
            // The endpoint is named by the subject's last token (`render`).
            let name = subject
                .rsplit_once('.')
                .map_or(subject.as_str(), |(_, last)| last);
            let endpoint = ctx.discovery.endpoint(name, &subject, &queue);
            let requests = ctx
                .bus
                .subscribe(subject.clone(), Some(queue))
                .await
                .with_context(|| format!("subscribe to {subject}"))?;
            ctx.bus.flush().await.context("register the subscription")?;
            (subject, endpoint, Deliveries::from(requests))
        }
        Subscription::Events { consumer, filter } => {
            let endpoint = ctx.discovery.endpoint(&consumer, &filter, "");
            let events = ctx
                .bus
                .consume(&ctx.subjects, &consumer, filter.clone(), slots)
                .await
                .with_context(|| format!("take {filter} through the consumer {consumer}"))?;
            (filter, endpoint, events)
        }
    };
    readiness.serving();
    let (stage, plot) = handler.origin();
    tracing::info!(%subject, %stage, plot = plot.map(PlotId::as_str), store = ctx.store.describe(), "serving");
    let memory_mib = capacity.memory_mib.max(1);
    let worker = Arc::new(Worker {
        ctx,
        handler,
        endpoint,
        slots: Semaphore::new(slots),
        memory: Semaphore::new(memory_mib as usize),
        memory_mib,
    });
    let held = Arc::new(Semaphore::new(slots * QUEUE_PER_SLOT));
    let tracker = TaskTracker::new();
    let outcome = loop {
        let place = tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            place = held.clone().acquire_owned() => place.expect("the semaphore is never closed"),
        };
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            next = messages.next() => match next {
                Some(delivery) => {
                    let worker = worker.clone();
                    tracker.spawn(async move {
                        worker.handle(delivery).await;
                        drop(place);
                    });
                }
                None => break Err(anyhow::anyhow!("the subscription to {subject} ended")),
            },
        }
    };
    drop(messages);
    tracker.close();
    tracker.wait().await;
    outcome
}

/// What becomes of a delivery once it is handled.
enum Settle {
    /// Handled (its outcome published): acknowledge it.
    Ack,
    /// Deliver it again after the delay.
    Again(Duration),
    /// Not handled (the service is stopping): leave it to come back.
    Leave,
}

/// A handler with what it needs to publish its outcomes.
struct Worker<H> {
    ctx: Context,
    handler: H,
    /// Where the messages this worker settles are counted for the service API.
    endpoint: Arc<Endpoint>,
    slots: Semaphore,
    /// MiB of the capacity's memory, one permit each.
    memory: Semaphore,
    memory_mib: u32,
}

impl<H: Handler> Worker<H> {
    /// Handles a delivery and settles it, reporting progress every third of
    /// [`ACK_WAIT`] meanwhile so that the server keeps it with this replica.
    async fn handle(self: Arc<Self>, delivery: Delivery) {
        let settle = if delivery.is_durable() {
            let outcome = self.outcome(&delivery);
            tokio::pin!(outcome);
            loop {
                tokio::select! {
                    settle = &mut outcome => break settle,
                    () = tokio::time::sleep(ACK_WAIT / 3) => delivery.progress().await,
                }
            }
        } else {
            self.outcome(&delivery).await
        };
        match settle {
            Settle::Ack => delivery.ack().await,
            Settle::Again(delay) => delivery.nak(delay).await,
            Settle::Leave => {}
        }
    }

    /// Takes a delivery through accept, gather and work, publishes what came of it,
    /// and says how to settle it; a settled message is counted with its time and, if
    /// it failed, its reason.
    async fn outcome(&self, delivery: &Delivery) -> Settle {
        let started = Instant::now();
        let (settle, failed) = self.attempt(delivery).await;
        if matches!(settle, Settle::Ack) {
            self.endpoint.record(started.elapsed(), failed.as_deref());
        }
        settle
    }

    /// [`Worker::outcome`] with the reason of a failure published.
    async fn attempt(&self, delivery: &Delivery) -> (Settle, Option<String>) {
        let job = match self.handler.accept(delivery.message.clone()).await {
            Ok(Some(job)) => job,
            Ok(None) => return (Settle::Ack, None),
            Err(failure) if failure.answered => {
                self.count("refused");
                return (Settle::Ack, Some(public_reason(&failure.error)));
            }
            Err(failure) => {
                self.count("refused");
                let reason = self.fail(failure, delivery).await;
                return (Settle::Ack, Some(reason));
            }
        };
        // The memory first: what a job gathers (candles from a remote API) is part of
        // its estimate. Then the slot, once gathered; always in this order.
        let mib = self.handler.memory(&job).div_ceil(1 << 20);
        let share = u32::try_from(mib).unwrap_or(u32::MAX).min(self.memory_mib);
        let Ok(_memory) = self.memory.acquire_many(share).await else {
            return (Settle::Leave, None);
        };
        let worked = match self.handler.gather(job).await {
            Ok(job) => match self.slots.acquire().await {
                Ok(_slot) => self.handler.work(job).await,
                Err(_) => return (Settle::Leave, None),
            },
            Err(failure) => Err(failure),
        };
        let again = delivery.is_durable() && delivery.attempt < MAX_DELIVERIES;
        match worked {
            Ok(event) => {
                self.count("done");
                match self.ctx.bus.send(&self.ctx.subjects, &event).await {
                    Ok(()) => (Settle::Ack, None),
                    Err(e) => {
                        tracing::error!(
                            message_id = event.message_id(),
                            error = &e as &dyn std::error::Error,
                            "could not publish the event"
                        );
                        if again {
                            (Settle::Again(retry_delay(delivery.attempt)), None)
                        } else {
                            let reason = "the event could not be published".to_owned();
                            (Settle::Ack, Some(reason))
                        }
                    }
                }
            }
            Err(failure) if again && failure.is_transient() => {
                self.count("retried");
                let delay = retry_delay(delivery.attempt);
                tracing::warn!(request_id = ?failure.request_id, attempt = delivery.attempt, retry_in = ?delay, reason = format!("{:#}", failure.error), "failed; trying again");
                (Settle::Again(delay), None)
            }
            Err(failure) => {
                self.count("failed");
                let reason = self.fail(failure, delivery).await;
                (Settle::Ack, Some(reason))
            }
        }
    }

    /// Publishes `failure` as a `failed` event, and returns its reason; a transient
    /// one that was delivered more than once says how often it was tried.
    async fn fail(&self, failure: Failure, delivery: &Delivery) -> String {
        let (stage, plot_id) = self.handler.origin();
        let mut reason = public_reason(&failure.error);
        if delivery.attempt > 1 && failure.is_transient() {
            reason.push_str(&format!(" (tried {} times)", delivery.attempt));
        }
        tracing::warn!(request_id = ?failure.request_id, %stage, plot = plot_id.map(PlotId::as_str), %reason, error = format!("{:#}", failure.error), "failed");
        let event = FailedEvent {
            v: V1,
            request_id: failure.request_id,
            stage,
            plot_id,
            reason,
        };
        if let Err(e) = self.ctx.bus.send(&self.ctx.subjects, &event).await {
            tracing::error!(
                message_id = event.message_id(),
                error = &e as &dyn std::error::Error,
                "could not publish the failed event"
            );
        }
        event.reason
    }

    fn count(&self, outcome: &'static str) {
        let (stage, plot) = self.handler.origin();
        metrics::counter!(
            "waveplot_messages_total",
            "stage" => stage.as_str(),
            "plot" => plot.map_or("", PlotId::as_str),
            "outcome" => outcome,
        )
        .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use waveplot_protocol::RenderReply;

    use super::*;

    /// Takes `ok`, `slow`, `fail` or anything else (malformed) from `<prefix>.prepared.>`
    /// and answers with an `accepted` reply as its event.
    struct Probe {
        running: AtomicUsize,
        most: AtomicUsize,
        accepted: AtomicUsize,
        /// `hold` jobs wait here for a permit.
        gate: Semaphore,
        /// Works done of `flaky` and `down` jobs.
        tries: AtomicUsize,
        /// Takes events through a durable consumer, not requests.
        durable: bool,
    }

    impl Default for Probe {
        fn default() -> Self {
            Self {
                running: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
                accepted: AtomicUsize::new(0),
                gate: Semaphore::new(0),
                tries: AtomicUsize::new(0),
                durable: false,
            }
        }
    }

    impl Probe {
        fn durable() -> Arc<Self> {
            Arc::new(Self {
                durable: true,
                ..Self::default()
            })
        }
    }

    impl Handler for Probe {
        type Job = (String, RequestId);
        type Event = RenderReply;

        fn subscription(&self, subjects: &Subjects) -> Subscription {
            if self.durable {
                Subscription::Events {
                    consumer: "probe".into(),
                    filter: subjects.prepared_any(),
                }
            } else {
                Subscription::Requests {
                    subject: subjects.prepared_any(),
                    queue: "probe".into(),
                }
            }
        }

        fn origin(&self) -> (Stage, Option<PlotId>) {
            (Stage::Plot, Some(PlotId::Bands))
        }

        async fn accept(&self, message: Message) -> Result<Option<Self::Job>, Failure> {
            let text = String::from_utf8_lossy(&message.payload).into_owned();
            self.accepted.fetch_add(1, Ordering::SeqCst);
            match text.as_str() {
                "ok" | "slow" | "fail" | "hold" | "big" | "huge" | "flaky" | "down" => {
                    Ok(Some((text, RequestId::generate())))
                }
                "skip" => Ok(None),
                _ => Err(Failure::new(None, anyhow::anyhow!("malformed: {text}"))),
            }
        }

        /// `big` takes 600 MiB, `huge` 5 GiB, the rest nothing.
        fn memory(&self, (text, _): &Self::Job) -> u64 {
            match text.as_str() {
                "big" => 600 << 20,
                "huge" => 5 << 30,
                _ => 0,
            }
        }

        async fn work(&self, (text, id): Self::Job) -> Result<Self::Event, Failure> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            if matches!(text.as_str(), "slow" | "big" | "huge") {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            if text == "hold" {
                self.gate.acquire().await.expect("open").forget();
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            if text == "fail" {
                let cause = anyhow::anyhow!("the store is down");
                return Err(Failure::new(Some(id), cause.context("store the chart")));
            }
            // `flaky` meets a bus outage on its first two tries, `down` on every one.
            if matches!(text.as_str(), "flaky" | "down") {
                let tried = self.tries.fetch_add(1, Ordering::SeqCst) + 1;
                if text == "down" || tried <= 2 {
                    let cause = BusError::Timeout {
                        subject: "elsewhere".into(),
                        timeout: Duration::from_secs(1),
                    };
                    return Err(Failure::new(Some(id), anyhow::Error::new(cause)));
                }
            }
            Ok(RenderReply::Accepted {
                v: V1,
                request_id: id,
                plots: vec![PlotId::Bands],
            })
        }
    }

    /// Serves a [`Probe`] in process with `slots` and 1 GiB; returns its context, a
    /// subscription to everything it publishes, the stop token and the serving task.
    async fn start(
        probe: Arc<Probe>,
        slots: usize,
    ) -> (
        Context,
        crate::bus::Subscription,
        CancellationToken,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        let ctx = Context::in_process();
        let out = ctx
            .bus
            .subscribe(ctx.subjects.render(), None)
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let readiness = Readiness::new(ctx.bus.clone(), ctx.store.clone());
        let capacity = Capacity {
            slots,
            memory_mib: 1024,
        };
        let task = tokio::spawn(serve(
            ctx.clone(),
            probe,
            capacity,
            readiness.clone(),
            stop.clone(),
        ));
        while !readiness.is_serving() {
            tokio::task::yield_now().await;
        }
        (ctx, out, stop, task)
    }

    async fn send(ctx: &Context, text: &'static str) {
        let subject = ctx.subjects.prepared_any().replace('>', "BTCUSDT.5m");
        ctx.bus
            .publish(subject, Bytes::from_static(text.as_bytes()), "t")
            .await
            .unwrap();
    }

    async fn next(messages: &mut crate::bus::Subscription) -> Message {
        tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .expect("a message within 5 s")
            .expect("the subscription is open")
    }

    /// A subscription to every `failed` event on `ctx`'s bus.
    async fn failed_events(ctx: &Context) -> crate::bus::Subscription {
        ctx.bus
            .subscribe(ctx.subjects.failed_any(), None)
            .await
            .unwrap()
    }

    /// The next `failed` event on `failures`, within 5 s.
    async fn next_failure(failures: &mut crate::bus::Subscription) -> FailedEvent {
        FailedEvent::decode(&next(failures).await.payload).unwrap()
    }

    /// An event whose work meets an outage comes back after its delay until the work
    /// succeeds; no `failed` event is published meanwhile.
    #[tokio::test(start_paused = true)]
    async fn an_event_that_fails_transiently_is_delivered_again_until_it_succeeds() {
        let probe = Probe::durable();
        let (ctx, mut out, stop, task) = start(probe.clone(), 1).await;
        let mut failures = failed_events(&ctx).await;
        send(&ctx, "flaky").await;
        let event = RenderReply::decode(&next(&mut out).await.payload).unwrap();
        assert!(matches!(event, RenderReply::Accepted { .. }), "{event:?}");
        assert_eq!(probe.tries.load(Ordering::SeqCst), 3);
        assert!(
            futures::FutureExt::now_or_never(failures.next()).is_none(),
            "a retried failure was published"
        );
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    /// The last of the deliveries publishes the failure, saying how often it was
    /// tried; a request, which nothing delivers again, fails at once; a failure of
    /// the data is never retried.
    #[tokio::test(start_paused = true)]
    async fn the_last_transient_failure_of_an_event_is_published_and_a_request_fails_at_once() {
        let probe = Probe::durable();
        let (ctx, _out, stop, task) = start(probe.clone(), 1).await;
        let mut failures = failed_events(&ctx).await;
        send(&ctx, "down").await;
        // 1 + 2 + 4 + 8 s of waits (in paused time).
        let last = tokio::time::timeout(Duration::from_secs(60), failures.next()).await;
        let failed = FailedEvent::decode(&last.unwrap().unwrap().payload).unwrap();
        assert_eq!(
            failed.reason,
            format!(
                "the message bus failed (the service's log says why) (tried {MAX_DELIVERIES} times)"
            )
        );
        assert_eq!(probe.tries.load(Ordering::SeqCst), MAX_DELIVERIES as usize);
        send(&ctx, "fail").await;
        let failed = next_failure(&mut failures).await;
        assert_eq!(failed.reason, "store the chart: the store is down");
        stop.cancel();
        task.await.unwrap().unwrap();

        let probe = Arc::new(Probe::default());
        let (ctx, _out, stop, task) = start(probe.clone(), 1).await;
        let mut failures = failed_events(&ctx).await;
        send(&ctx, "down").await;
        let failed = next_failure(&mut failures).await;
        assert_eq!(
            failed.reason,
            "the message bus failed (the service's log says why)"
        );
        assert_eq!(probe.tries.load(Ordering::SeqCst), 1);
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[test]
    fn a_failure_is_transient_by_its_cause_or_by_the_handler_s_word() {
        let plain = || anyhow::anyhow!("Binance kept rate-limiting");
        assert!(!Failure::new(None, plain()).is_transient());
        assert!(Failure::transient(None, plain()).is_transient());
        let outage = BusError::Timeout {
            subject: "elsewhere".into(),
            timeout: Duration::from_secs(1),
        };
        let wrapped = anyhow::Error::new(outage).context("publish the event");
        assert!(Failure::new(None, wrapped).is_transient());
    }

    #[test]
    fn a_public_reason_names_a_store_or_bus_failure_without_quoting_it() {
        let outage = StoreError::Url {
            url: "s3://waveplot".into(),
            reason: "is the S3 server at http://minio:9000 running?".into(),
            source: None,
        };
        let e = anyhow::Error::new(outage).context("look for an existing blob");
        assert_eq!(
            public_reason(&e),
            "look for an existing blob: the object store failed (the service's log says why)"
        );
        let bus = BusError::NoResponders {
            subject: "waveplot.secret.subject".into(),
        };
        let e = anyhow::Error::new(bus).context("publish");
        let reason = public_reason(&e);
        assert!(!reason.contains("waveplot.secret"), "{reason}");
        assert!(reason.ends_with("the message bus failed (the service's log says why)"));
        let plain = anyhow::anyhow!("no candles for BTCUSDT").context("load the window");
        assert_eq!(
            public_reason(&plain),
            "load the window: no candles for BTCUSDT"
        );
    }

    #[test]
    fn retries_wait_longer_each_time() {
        let delays: Vec<u64> = (1..MAX_DELIVERIES)
            .map(|a| retry_delay(a).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8]);
    }

    #[tokio::test]
    async fn work_that_succeeds_publishes_its_event_and_skipped_messages_publish_nothing() {
        let (ctx, mut out, stop, task) = start(Arc::default(), 2).await;
        let mut failures = failed_events(&ctx).await;
        send(&ctx, "skip").await;
        send(&ctx, "ok").await;
        let event = RenderReply::decode(&next(&mut out).await.payload).unwrap();
        assert!(matches!(event, RenderReply::Accepted { .. }), "{event:?}");
        stop.cancel();
        task.await.unwrap().unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), failures.next())
                .await
                .is_err(),
            "a skipped message published a failure"
        );
    }

    #[tokio::test]
    async fn a_failure_becomes_a_failed_event_with_the_whole_cause_chain() {
        let (ctx, _out, stop, task) = start(Arc::default(), 2).await;
        let mut failures = failed_events(&ctx).await;
        send(&ctx, "fail").await;
        let failed = next_failure(&mut failures).await;
        assert_eq!(failed.reason, "store the chart: the store is down");
        assert_eq!(
            (failed.stage, failed.plot_id),
            (Stage::Plot, Some(PlotId::Bands))
        );
        assert!(failed.request_id.is_some());
        send(&ctx, "garbage").await;
        let refused = next_failure(&mut failures).await;
        assert_eq!(refused.reason, "malformed: garbage");
        assert_eq!(refused.request_id, None);
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn no_more_jobs_work_at_once_than_there_are_slots() {
        let probe = Arc::new(Probe::default());
        let (ctx, mut out, stop, task) = start(probe.clone(), 2).await;
        for _ in 0..6 {
            send(&ctx, "slow").await;
        }
        for _ in 0..6 {
            next(&mut out).await;
        }
        assert_eq!(probe.most.load(Ordering::SeqCst), 2);
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    /// Jobs estimated at 600 MiB work one at a time in 1 GiB whatever the slots, one
    /// estimated above the whole works alone, and none is lost.
    #[tokio::test]
    async fn no_more_jobs_work_at_once_than_their_memory_fits() {
        let probe = Arc::new(Probe::default());
        let (ctx, mut out, stop, task) = start(probe.clone(), 4).await;
        for text in ["big", "big", "huge", "big", "big"] {
            send(&ctx, text).await;
        }
        for _ in 0..5 {
            next(&mut out).await;
        }
        assert_eq!(probe.most.load(Ordering::SeqCst), 1);
        for _ in 0..4 {
            send(&ctx, "slow").await;
        }
        for _ in 0..4 {
            next(&mut out).await;
        }
        assert_eq!(
            probe.most.load(Ordering::SeqCst),
            4,
            "light jobs fill the slots"
        );
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn no_more_messages_are_held_than_the_queue_allows_and_the_rest_wait_in_the_bus() {
        let probe = Arc::new(Probe::default());
        let (ctx, mut out, stop, task) = start(probe.clone(), 1).await;
        for _ in 0..100 {
            send(&ctx, "hold").await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(probe.accepted.load(Ordering::SeqCst), QUEUE_PER_SLOT);
        probe.gate.add_permits(100);
        for _ in 0..100 {
            next(&mut out).await;
        }
        assert_eq!(probe.accepted.load(Ordering::SeqCst), 100, "none was lost");
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn shutdown_lets_the_work_in_flight_publish_its_event() {
        let (ctx, mut out, stop, task) = start(Arc::default(), 2).await;
        send(&ctx, "slow").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        stop.cancel();
        task.await.unwrap().unwrap();
        // Published before `serve` returned, not by a task left behind.
        let published = futures::FutureExt::now_or_never(out.next())
            .flatten()
            .expect("the event was published before serve returned");
        let event = RenderReply::decode(&published.payload).unwrap();
        assert!(matches!(event, RenderReply::Accepted { .. }), "{event:?}");
    }
}
