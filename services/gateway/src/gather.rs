//! Gathers the `prepared`, `done` and `failed` events of every render this gateway
//! started and applies them to their [`Status`]; events of other requests (another
//! gateway's, a tool's) are ignored. The band statistics and the window summary come
//! with prepare's event (the blob's header); the gateway never reads a blob. Each message is routed by
//! what [`Subjects::classify`] reads in its subject; a subject that is none of the
//! three event kinds is counted and logged like a malformed event.
//!
//! [`Status`]: crate::status::Status
//! [`Subjects::classify`]: waveplot_protocol::Subjects::classify

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow};
use futures::StreamExt;
use waveplot_protocol::{
    AcceptedEvent, DoneEvent, FailedEvent, Message, PreparedEvent, SubjectKind,
};
use waveplot_service::Context;
use waveplot_service::bus::Message as BusMessage;

use crate::registry::Registry;

/// Follows the event stream from now on ([`Bus::follow`]: in order, and across a
/// restart of the NATS server without losing what was published meanwhile); the
/// returned future applies events until the stream ends.
///
/// [`Bus::follow`]: waveplot_service::Bus::follow
pub async fn start(ctx: Context, registry: Arc<Registry>) -> Result<impl Future<Output = ()>> {
    let mut events = ctx
        .bus
        .follow(&ctx.subjects)
        .await
        .context("follow the events")?;
    let endpoint = ctx
        .discovery
        .endpoint("events", &ctx.subjects.everything(), "");
    Ok(async move {
        while let Some(message) = events.next().await {
            let started = Instant::now();
            let failed = apply(&ctx, &registry, message);
            endpoint.record(started.elapsed(), failed.as_deref());
        }
    })
}

/// Applies one event to its render; a malformed one is counted, logged and its reason
/// returned.
fn apply(ctx: &Context, registry: &Registry, message: BusMessage) -> Option<String> {
    let outcome = match ctx.subjects.classify(&message.subject) {
        // The gateway learns of acceptance from prepare's reply; the event is checked only.
        Some(SubjectKind::Accepted { .. }) => AcceptedEvent::decode(&message.payload)
            .map(drop)
            .map_err(anyhow::Error::new),
        Some(SubjectKind::Prepared { .. }) => on_prepared(registry, &message.payload),
        Some(SubjectKind::Done { .. }) => on_done(registry, &message.payload),
        Some(SubjectKind::Failed { .. }) => on_failed(registry, &message.payload),
        Some(SubjectKind::Render | SubjectKind::Watch | SubjectKind::Market { .. }) | None => Err(
            anyhow!("not a prepared, done or failed subject of this deployment"),
        ),
    };
    let e = outcome.err()?;
    metrics::counter!("waveplot_gateway_bad_events_total").increment(1);
    tracing::warn!(subject = %message.subject, error = format!("{e:#}"), "ignoring a malformed event");
    Some(format!("{e:#}"))
}

fn on_done(registry: &Registry, payload: &[u8]) -> Result<()> {
    let event = DoneEvent::decode(payload)?;
    if let Some(render) = registry.get(&event.request_id) {
        render.update(|st| st.done(&event));
    }
    Ok(())
}

fn on_failed(registry: &Registry, payload: &[u8]) -> Result<()> {
    let event = FailedEvent::decode(payload)?;
    if let Some(render) = event.request_id.as_ref().and_then(|id| registry.get(id)) {
        render.update(|st| st.failed(event.plot_id, &event.reason));
    }
    Ok(())
}

fn on_prepared(registry: &Registry, payload: &[u8]) -> Result<()> {
    let event = PreparedEvent::decode(payload)?;
    if let Some(render) = registry.get(&event.request_id) {
        render.update(|st| st.prepared(&event));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use waveplot_protocol::{PlotId, RenderRequest, Stage, V1};

    use super::*;
    use crate::status::PlotState;
    use crate::status::tests::{done_event, prepared_event, request};

    fn context() -> Context {
        Context::in_process()
    }

    fn message(subject: &str, payload: Vec<u8>) -> BusMessage {
        BusMessage {
            subject: subject.to_owned(),
            reply: None,
            payload: payload.into(),
        }
    }

    fn failed_event(r: &RenderRequest, plot: PlotId) -> FailedEvent {
        FailedEvent {
            v: V1,
            request_id: Some(r.request_id.clone()),
            stage: Stage::Plot,
            plot_id: Some(plot),
            reason: "the plotter crashed".into(),
        }
    }

    #[test]
    fn each_event_is_applied_as_the_kind_its_subject_names() {
        let (ctx, registry) = (context(), Registry::default());
        let r = request(&[PlotId::Overview, PlotId::Bands]);
        let render = registry.insert(r.clone());
        let prepared = prepared_event(&r);
        let subject = ctx.subjects.prepared(&r.symbol, r.interval);
        apply(&ctx, &registry, message(&subject, prepared.encode()));
        assert!(render.status.borrow().prepared.is_some());
        let done = done_event(&r, PlotId::Overview);
        apply(&ctx, &registry, message("waveplot.done.01", done.encode()));
        let failed = failed_event(&r, PlotId::Bands);
        apply(
            &ctx,
            &registry,
            message("waveplot.failed.plot", failed.encode()),
        );
        let status = render.status.borrow();
        assert_eq!(status.plots[&PlotId::Overview].state, PlotState::Done);
        assert_eq!(status.plots[&PlotId::Bands].state, PlotState::Failed);
    }

    #[test]
    fn an_event_on_a_subject_of_no_event_kind_is_ignored() {
        let (ctx, registry) = (context(), Registry::default());
        let r = request(&[PlotId::Overview]);
        let render = registry.insert(r.clone());
        let done = done_event(&r, PlotId::Overview).encode();
        let failed = failed_event(&r, PlotId::Overview).encode();
        for subject in [
            "waveplot.render",
            "other.done.01",
            "other.failed.plot",
            "waveplot.done.1",
            "waveplot.failed.bogus",
            "waveplot.failed.plot.01",
        ] {
            for payload in [&done, &failed] {
                apply(&ctx, &registry, message(subject, payload.clone()));
            }
        }
        apply(&ctx, &registry, message("waveplot.failed.plot", done));
        apply(&ctx, &registry, message("waveplot.done.01", failed));
        assert_eq!(render.status.borrow().pending_plots(), [PlotId::Overview]);
    }
}
