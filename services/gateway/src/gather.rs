//! Gathers the `prepared`, `done` and `failed` events of every render this gateway
//! started and applies them to their [`Status`]; events of other requests (another
//! gateway's, a tool's) are ignored. When prepare announces a blob, the gateway reads
//! it once for the band statistics and the window summary. Each message is routed by
//! what [`Subjects::classify`] reads in its subject; a subject that is none of the
//! three event kinds is counted and logged like a malformed event.
//!
//! [`Status`]: crate::status::Status
//! [`Subjects::classify`]: waveplot_protocol::Subjects::classify

use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow};
use futures::StreamExt;
use waveplot_protocol::{Blob, DoneEvent, FailedEvent, Message, PreparedEvent, SubjectKind};
use waveplot_service::Context;
use waveplot_service::bus::Message as BusMessage;

use crate::registry::Registry;

/// Subscribes to the event subjects; the returned future applies events until the
/// subscriptions end.
pub async fn start(ctx: Context, registry: Arc<Registry>) -> Result<impl Future<Output = ()>> {
    let s = &ctx.subjects;
    let mut subs = Vec::new();
    for subject in [s.prepared_any(), s.done_any(), s.failed_any()] {
        subs.push(
            ctx.bus
                .subscribe(subject.clone(), None)
                .await
                .with_context(|| format!("subscribe to {subject}"))?,
        );
    }
    ctx.bus
        .flush()
        .await
        .context("register the event subscriptions")?;
    let mut events = futures::stream::select_all(subs);
    Ok(async move {
        while let Some(message) = events.next().await {
            apply(&ctx, &registry, message).await;
        }
    })
}

async fn apply(ctx: &Context, registry: &Registry, message: BusMessage) {
    let outcome = match ctx.subjects.classify(&message.subject) {
        Some(SubjectKind::Prepared { .. }) => on_prepared(ctx, registry, &message.payload).await,
        Some(SubjectKind::Done { .. }) => on_done(registry, &message.payload),
        Some(SubjectKind::Failed { .. }) => on_failed(registry, &message.payload),
        Some(SubjectKind::Render) | None => Err(anyhow!(
            "not a prepared, done or failed subject of this deployment"
        )),
    };
    if let Err(e) = outcome {
        metrics::counter!("waveplot_gateway_bad_events_total").increment(1);
        tracing::warn!(subject = %message.subject, error = format!("{e:#}"), "ignoring a malformed event");
    }
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

async fn on_prepared(ctx: &Context, registry: &Registry, payload: &[u8]) -> Result<()> {
    let event = PreparedEvent::decode(payload)?;
    let Some(render) = registry.get(&event.request_id) else {
        return Ok(());
    };
    let blob = match ctx.store.get(event.key.as_str()).await {
        Ok(Some(bytes)) => Blob::decode(&bytes)
            .map_err(|e| tracing::warn!(key = %event.key, error = %e, "cannot read the blob"))
            .ok(),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(key = %event.key, error = %e, "cannot fetch the blob for the summary");
            None
        }
    };
    render.update(|st| st.prepared(&event, blob.as_ref()));
    Ok(())
}
