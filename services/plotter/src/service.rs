//! The plotter service on the bus: for every `prepared` event that asks for this
//! instance's chart, fetch the blob, draw the chart off the async runtime, store the
//! image under its content-addressed key (reusing it when it already exists) and
//! announce it with a `done` event. Replicas of one plot ID share a queue group, so
//! each chart is drawn once however many boards run it. Any failure becomes a
//! `failed` event with the reason; a bad message is logged and counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use waveplot_protocol::{
    Blob, DoneEvent, FailedEvent, Message, PlotId, PreparedEvent, RequestId, Stage, V1,
};
use waveplot_service::Context;
use waveplot_service::bus::{Message as BusMessage, serve_each};
use waveplot_service::health::Readiness;

use crate::{RenderOptions, render};

/// How the service works.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The chart this instance draws.
    pub plot: PlotId,
    /// Charts drawn at the same time.
    pub concurrency: usize,
    /// How long in-flight charts may take to finish after shutdown is requested.
    pub grace: Duration,
}

/// The queue group of all replicas drawing `plot`.
pub fn queue_group(plot: PlotId) -> String {
    format!("plot-{plot}")
}

/// Serves `prepared` events until `shutdown`, then lets in-flight charts finish within
/// the grace period. Returns an error only if the bus subscription is lost.
pub async fn run(
    ctx: Context,
    settings: Settings,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Result<()> {
    let subject = ctx.subjects.prepared_any();
    let events = ctx
        .bus
        .subscribe(subject.clone(), Some(queue_group(settings.plot)))
        .await
        .context("subscribe to prepared events")?;
    ctx.bus.flush().await.context("register the subscription")?;
    readiness.serving();
    tracing::info!(plot = %settings.plot, %subject, store = ctx.store.describe(), "plotter is serving");
    let worker = Arc::new(Worker {
        ctx,
        plot: settings.plot,
        slots: Semaphore::new(settings.concurrency.max(1)),
    });
    serve_each(events, &shutdown, settings.grace, |message| {
        worker.clone().receive(message)
    })
    .await
    .context("prepared events")
}

struct Worker {
    ctx: Context,
    plot: PlotId,
    slots: Semaphore,
}

impl Worker {
    async fn receive(self: Arc<Self>, message: BusMessage) {
        match PreparedEvent::decode(&message.payload) {
            Ok(event) if event.plots.contains(&self.plot) => self.work(event).await,
            Ok(_) => {}
            Err(e) => {
                metrics::counter!("waveplot_plotter_bad_messages_total").increment(1);
                tracing::warn!(subject = %message.subject, error = %e, "ignoring a malformed prepared event");
                if let Some(id) = RequestId::find_in(&message.payload) {
                    self.fail(id, format!("malformed prepared event: {e}"))
                        .await;
                }
            }
        }
    }

    async fn work(self: Arc<Self>, event: PreparedEvent) {
        let Ok(_slot) = self.slots.acquire().await else {
            return;
        };
        let id = event.request_id.clone();
        match self.draw(&event).await {
            Ok(done) => {
                tracing::info!(request_id = %id, plot = %self.plot, bytes = done.bytes, render_ms = done.render_ms, reused = done.reused, "chart stored");
                metrics::counter!("waveplot_plotter_charts_total", "plot" => self.plot.as_str(), "outcome" => "done")
                    .increment(1);
                let msg_id = format!("{id}.done.{}", self.plot);
                if let Err(e) = self.ctx.bus.send(&self.ctx.subjects, &done, &msg_id).await {
                    tracing::error!(request_id = %id, error = %e, "could not publish the done event");
                }
            }
            Err(e) => {
                metrics::counter!("waveplot_plotter_charts_total", "plot" => self.plot.as_str(), "outcome" => "failed")
                    .increment(1);
                self.fail(id, format!("{e:#}")).await;
            }
        }
    }

    async fn fail(&self, id: RequestId, reason: String) {
        tracing::warn!(request_id = %id, plot = %self.plot, %reason, "chart failed");
        let event = FailedEvent {
            v: V1,
            request_id: Some(id.clone()),
            stage: Stage::Plot,
            plot_id: Some(self.plot),
            reason,
        };
        let msg_id = format!("{id}.failed.{}", self.plot);
        if let Err(e) = self.ctx.bus.send(&self.ctx.subjects, &event, &msg_id).await {
            tracing::error!(request_id = %id, error = %e, "could not publish the failed event");
        }
    }

    async fn draw(&self, event: &PreparedEvent) -> Result<DoneEvent> {
        let (width, height) = self.plot.size_for(event.width, event.height);
        let zone = event.tz.clone().unwrap_or_default();
        let key = event
            .key
            .plot_key(self.plot, (width, height), event.format, &zone);
        let store = &self.ctx.store;
        let started = Instant::now();
        let done = |bytes: u64, render_ms: f64, store_ms: f64, reused: bool| DoneEvent {
            v: V1,
            request_id: event.request_id.clone(),
            plot_id: self.plot,
            key: key.clone(),
            blob_key: event.key.clone(),
            format: event.format,
            width,
            height,
            bytes,
            render_ms,
            store_ms,
            reused,
        };
        if let Some(size) = store
            .size(key.as_str())
            .await
            .context("look for an existing chart")?
        {
            return Ok(done(size, 0.0, ms(started), true));
        }
        let bytes = store
            .get(event.key.as_str())
            .await
            .context("fetch the blob")?
            .with_context(|| format!("the blob {} is not in the store", event.key))?;
        let fetch_ms = ms(started);
        let rendering = Instant::now();
        let (plot, options) = (
            self.plot,
            RenderOptions {
                width,
                height,
                format: event.format,
                zone,
            },
        );
        let image = tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
            let blob = Blob::decode(&bytes).context("read the blob")?;
            render(&blob, plot, &options).context("draw the chart")
        })
        .await
        .context("chart task")??;
        let render_ms = ms(rendering);
        let size = image.len() as u64;
        let storing = Instant::now();
        store
            .put(key.as_str(), image.into())
            .await
            .context("store the chart")?;
        Ok(done(size, render_ms, fetch_ms + ms(storing), false))
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}
