//! The serve loop of the bus services. A [`Handler`] says what it subscribes to, how
//! it takes a message in ([`Handler::accept`], at once, e.g. answering a request) and
//! how it does the work ([`Handler::work`]); [`serve`] does the rest the same way for
//! every service: it registers the subscription before the service reports ready,
//! runs each message in its own task, bounds the work running at once by a number of
//! slots, publishes the typed event or a [`FailedEvent`] with the whole cause chain,
//! and stops taking messages at shutdown while the work in flight finishes.
//!
//! Everything is bounded by the [`Capacity`]: at most `slots` jobs work, together
//! estimated at no more than its memory ([`Handler::memory`]), and at most
//! [`QUEUE_PER_SLOT`] × `slots` messages are held at once in any state (accepted,
//! gathering, waiting for a slot). Past that the loop stops reading its subscription,
//! and the messages wait in the bus client's bounded buffer instead of in tasks.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use waveplot_protocol::{FailedEvent, Message as Contract, PlotId, RequestId, Stage, Subjects, V1};

use crate::Context;
use crate::bus::Message;
use crate::health::Readiness;

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
}

impl Failure {
    /// A failure of `request_id`.
    pub fn new(request_id: Option<RequestId>, error: impl Into<anyhow::Error>) -> Self {
        Self {
            request_id,
            error: error.into(),
        }
    }
}

/// Where a handler listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The subject, wildcards allowed.
    pub subject: String,
    /// The queue group shared by the replicas (each message goes to one of them).
    pub queue: String,
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
/// `capacity` allows. Reports ready once the subscription is registered with the server. After
/// `shutdown` it unsubscribes and waits for the jobs in flight (the caller bounds that
/// wait, see [`crate::lifecycle`]). Fails only if the subscription is lost.
pub async fn serve<H: Handler>(
    ctx: Context,
    handler: H,
    capacity: Capacity,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Subscription { subject, queue } = handler.subscription(&ctx.subjects);
    let mut messages = ctx
        .bus
        .subscribe(subject.clone(), Some(queue))
        .await
        .with_context(|| format!("subscribe to {subject}"))?;
    ctx.bus.flush().await.context("register the subscription")?;
    readiness.serving();
    let (stage, plot) = handler.origin();
    tracing::info!(%subject, %stage, plot = plot.map(PlotId::as_str), store = ctx.store.describe(), "serving");
    let slots = capacity.slots.max(1);
    let memory_mib = capacity.memory_mib.max(1);
    let worker = Arc::new(Worker {
        ctx,
        handler,
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
                Some(message) => {
                    let worker = worker.clone();
                    tracker.spawn(async move {
                        worker.handle(message).await;
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

/// A handler with what it needs to publish its outcomes.
struct Worker<H> {
    ctx: Context,
    handler: H,
    slots: Semaphore,
    /// MiB of the capacity's memory, one permit each.
    memory: Semaphore,
    memory_mib: u32,
}

impl<H: Handler> Worker<H> {
    async fn handle(self: Arc<Self>, message: Message) {
        let job = match self.handler.accept(message).await {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(failure) => {
                self.count("refused");
                return self.fail(failure).await;
            }
        };
        // The memory first: what a job gathers (candles from a remote API) is part of
        // its estimate. Then the slot, once gathered; always in this order.
        let mib = self.handler.memory(&job).div_ceil(1 << 20);
        let share = u32::try_from(mib).unwrap_or(u32::MAX).min(self.memory_mib);
        let Ok(_memory) = self.memory.acquire_many(share).await else {
            return;
        };
        let worked = match self.handler.gather(job).await {
            Ok(job) => match self.slots.acquire().await {
                Ok(_slot) => self.handler.work(job).await,
                Err(_) => return,
            },
            Err(failure) => Err(failure),
        };
        match worked {
            Ok(event) => {
                self.count("done");
                if let Err(e) = self.ctx.bus.send(&self.ctx.subjects, &event).await {
                    tracing::error!(
                        message_id = event.message_id(),
                        error = &e as &dyn std::error::Error,
                        "could not publish the event"
                    );
                }
            }
            Err(failure) => {
                self.count("failed");
                self.fail(failure).await;
            }
        }
    }

    async fn fail(&self, failure: Failure) {
        let (stage, plot_id) = self.handler.origin();
        let reason = format!("{:#}", failure.error);
        tracing::warn!(request_id = ?failure.request_id, %stage, plot = plot_id.map(PlotId::as_str), %reason, "failed");
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
    }

    impl Default for Probe {
        fn default() -> Self {
            Self {
                running: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
                accepted: AtomicUsize::new(0),
                gate: Semaphore::new(0),
            }
        }
    }

    impl Handler for Probe {
        type Job = (String, RequestId);
        type Event = RenderReply;

        fn subscription(&self, subjects: &Subjects) -> Subscription {
            Subscription {
                subject: subjects.prepared_any(),
                queue: "probe".into(),
            }
        }

        fn origin(&self) -> (Stage, Option<PlotId>) {
            (Stage::Plot, Some(PlotId::Bands))
        }

        async fn accept(&self, message: Message) -> Result<Option<Self::Job>, Failure> {
            let text = String::from_utf8_lossy(&message.payload).into_owned();
            self.accepted.fetch_add(1, Ordering::SeqCst);
            match text.as_str() {
                "ok" | "slow" | "fail" | "hold" | "big" | "huge" => {
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

    #[tokio::test]
    async fn work_that_succeeds_publishes_its_event_and_skipped_messages_publish_nothing() {
        let (ctx, mut out, stop, task) = start(Arc::default(), 2).await;
        let mut failures = ctx
            .bus
            .subscribe(ctx.subjects.failed_any(), None)
            .await
            .unwrap();
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
        let mut failures = ctx
            .bus
            .subscribe(ctx.subjects.failed_any(), None)
            .await
            .unwrap();
        send(&ctx, "fail").await;
        let failed = FailedEvent::decode(&next(&mut failures).await.payload).unwrap();
        assert_eq!(failed.reason, "store the chart: the store is down");
        assert_eq!(
            (failed.stage, failed.plot_id),
            (Stage::Plot, Some(PlotId::Bands))
        );
        assert!(failed.request_id.is_some());
        send(&ctx, "garbage").await;
        let refused = FailedEvent::decode(&next(&mut failures).await.payload).unwrap();
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
