//! Gathers the `prepared`, `done` and `failed` events of every render this gateway
//! started and applies them to their [`Status`]; events of other requests (another
//! gateway's, a tool's) are ignored. When prepare announces a blob, the gateway reads
//! it once for the band statistics and the window summary.
//!
//! [`Status`]: crate::status::Status

use std::sync::Arc;

use anyhow::{Context as _, Result};
use futures::StreamExt;
use waveplot_protocol::{Blob, DoneEvent, FailedEvent, Message, PreparedEvent};
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
    let s = &ctx.subjects;
    let prefix = |kind: &str| format!("{}.{kind}.", s.prefix());
    let outcome = if message.subject.starts_with(&prefix("prepared")) {
        on_prepared(ctx, registry, &message.payload).await
    } else if message.subject.starts_with(&prefix("done")) {
        DoneEvent::decode(&message.payload)
            .map(|e| {
                if let Some(r) = registry.get(&e.request_id) {
                    r.update(|st| st.done(&e));
                }
            })
            .map_err(Into::into)
    } else {
        FailedEvent::decode(&message.payload)
            .map(|e| {
                if let Some(r) = e.request_id.as_ref().and_then(|id| registry.get(id)) {
                    r.update(|st| st.failed(e.plot_id, &e.reason));
                }
            })
            .map_err(Into::into)
    };
    if let Err(e) = outcome {
        metrics::counter!("waveplot_gateway_bad_events_total").increment(1);
        tracing::warn!(subject = %message.subject, error = format!("{e:#}"), "ignoring a malformed event");
    }
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
