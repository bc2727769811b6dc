//! A service's life from `main` to exit: the async runtime, connecting to the bus and
//! the store, the health endpoint, SIGTERM/Ctrl-C, and a shutdown bounded by the grace
//! period. Every service runs through [`run`]; the single-process mode, which builds
//! its own in-process bus, enters at [`run_with`].

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::health::{self, Readiness};
use crate::{Bus, Context, Discovery, ServiceArgs, shutdown};

/// How long closing the NATS connection may take once the work has stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Runs a bus service until SIGTERM or Ctrl-C, or until it fails: starts the runtime,
/// connects to NATS (naming the connection `name`), opens the store, serves the
/// health endpoint on `health` (`None`: the service serves the health routes itself),
/// answers the NATS service API as `waveplot-<name>`, described by `description`,
/// runs `service`, and shuts down within the grace period.
pub fn run<F, Fut>(
    name: &str,
    description: &str,
    args: &ServiceArgs,
    health: Option<SocketAddr>,
    service: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Context, Readiness, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    tokio::runtime::Runtime::new()
        .context("start the async runtime")?
        .block_on(async {
            let shutdown = shutdown::on_signal();
            let login = args.bus.login()?;
            let ca_file = args.bus.nats_ca_file.as_deref();
            let bus = match &args.bus.nats_creds {
                Some(creds) => {
                    Bus::connect_with_credentials(&args.bus.nats_url, creds, ca_file, name).await?
                }
                None => {
                    Bus::connect_with_ca(&args.bus.nats_url, login.as_ref(), ca_file, name).await?
                }
            };
            let ctx = Context {
                bus,
                store: args.store.open().await?,
                discovery: Discovery::new(name, description, args.bus.subject_prefix.prefix()),
                subjects: args.bus.subject_prefix.clone(),
            };
            ctx.bus
                .ensure_events(&ctx.subjects, args.bus.event_limits())
                .await?;
            run_with(name, ctx, health, args.grace, shutdown, service).await
        })
}

/// Runs `service` over an open bus and store until `shutdown` (or until it fails),
/// serving the health endpoint on `health` and answering the NATS service API for
/// `ctx.discovery` meanwhile. Once `shutdown` is cancelled the
/// service has `grace` to finish its work in flight; after that it is dropped (its
/// tasks end with the runtime) and the bus connection is drained.
pub async fn run_with<F, Fut>(
    name: &str,
    ctx: Context,
    health: Option<SocketAddr>,
    grace: Duration,
    shutdown: CancellationToken,
    service: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Context, Readiness, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let readiness = Readiness::new(ctx.bus.clone(), ctx.store.clone());
    let health_task = match health {
        Some(addr) => {
            let (bound, task) = health::serve(addr, readiness.clone(), shutdown.clone())
                .await
                .with_context(|| format!("listen on {addr} for health checks"))?;
            tracing::info!(service = name, health = %bound, "health endpoint listening");
            Some(task)
        }
        None => None,
    };
    let bus = ctx.bus.clone();
    let discovery = {
        let (bus, discovery, shutdown) = (bus.clone(), ctx.discovery.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = discovery.serve(&bus, shutdown).await {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "service discovery is off: could not subscribe to $SRV"
                );
            }
        })
    };
    let outcome = bounded(service(ctx, readiness, shutdown.clone()), &shutdown, grace).await;
    shutdown.cancel();
    if tokio::time::timeout(DRAIN_LIMIT, bus.drain())
        .await
        .is_err()
    {
        tracing::warn!(limit = ?DRAIN_LIMIT, "closing the NATS connection took too long");
    }
    if let Some(task) = health_task {
        let _ = task.await;
    }
    discovery.abort();
    outcome
}

/// Awaits `work`; once `shutdown` is cancelled, waits at most `grace` more.
async fn bounded(
    work: impl Future<Output = anyhow::Result<()>>,
    shutdown: &CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    tokio::pin!(work);
    tokio::select! {
        outcome = &mut work => outcome,
        () = shutdown.cancelled() => match tokio::time::timeout(grace, work).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::warn!(?grace, "work in flight did not finish within the grace period; stopping anyway");
                Ok(())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn a_service_that_ignores_shutdown_is_stopped_after_the_grace_period() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let started = Instant::now();
        let outcome = bounded(
            std::future::pending::<anyhow::Result<()>>(),
            &shutdown,
            Duration::from_millis(50),
        )
        .await;
        assert!(outcome.is_ok());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_service_that_fails_before_shutdown_returns_its_error() {
        let shutdown = CancellationToken::new();
        let outcome = bounded(
            async { Err(anyhow::anyhow!("subscription lost")) },
            &shutdown,
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(outcome.unwrap_err().to_string(), "subscription lost");
    }

    #[tokio::test]
    async fn work_that_finishes_within_the_grace_period_is_awaited() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        bounded(
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = done_tx.send(());
                Ok(())
            },
            &shutdown,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert!(
            done_rx.await.is_ok(),
            "the work was dropped before it finished"
        );
    }
}
