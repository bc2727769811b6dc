//! Standalone mode: gateway, prepare and the six plotters in one process, over an
//! in-process bus and a store in a local directory. The same service code as the
//! distributed deployment; only the transport and the store differ. This is the
//! "run it on a laptop" mode: no Docker, NATS or S3 server needed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio_util::sync::CancellationToken;
use waveplot_protocol::{PlotId, Subjects};
use waveplot_service::bus::LocalBus;
use waveplot_service::health::Readiness;
use waveplot_service::{Bus, Context, Store};

use crate::Settings;

/// What standalone mode needs beyond the gateway's settings.
#[derive(Debug)]
pub struct Options {
    /// Where blobs and charts are kept.
    pub data_dir: PathBuf,
    /// The operator's candle files for `file:NAME`.
    pub candle_dir: Option<PathBuf>,
    /// Binance REST base URL.
    pub binance_url: String,
    /// The compute backend of the in-process prepare.
    pub backend: waveplot_prepare::backend::Backend,
    /// Grace period at shutdown.
    pub grace: Duration,
}

/// Runs everything until `shutdown`; `on_ready` gets the bound HTTP address once every
/// service is serving.
pub async fn run(
    settings: Settings,
    options: Options,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let store_dir = options.data_dir.join("store");
    let store = Store::local_dir(&store_dir)?;
    let ctx = Context {
        bus: Bus::Local(LocalBus::new()),
        store: store.clone(),
        subjects: Subjects::default(),
    };
    let mut services = tokio::task::JoinSet::new();
    let mut ready = Vec::new();
    let prepare_ready = Readiness::new(ctx.bus.clone(), store.clone());
    ready.push(prepare_ready.clone());
    let prepare_settings = waveplot_prepare::service::Settings {
        candle_dir: options.candle_dir.clone(),
        binance_url: options.binance_url.clone(),
        backend: std::sync::Arc::new(options.backend),
        concurrency: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        grace: options.grace,
    };
    services.spawn(waveplot_prepare::service::run(
        ctx.clone(),
        prepare_settings,
        prepare_ready,
        shutdown.clone(),
    ));
    for plot in PlotId::ALL {
        let plot_ready = Readiness::new(ctx.bus.clone(), store.clone());
        ready.push(plot_ready.clone());
        let plot_settings = waveplot_plotter::service::Settings {
            plot,
            concurrency: 1,
            grace: options.grace,
        };
        services.spawn(waveplot_plotter::service::run(
            ctx.clone(),
            plot_settings,
            plot_ready,
            shutdown.clone(),
        ));
    }
    wait_until_serving(&ready).await?;
    let gateway_ready = Readiness::new(ctx.bus.clone(), store);
    let (addr, server) = crate::serve(ctx, settings, gateway_ready, shutdown.clone()).await?;
    tracing::info!(%addr, store = %store_dir.display(), "standalone: gateway, prepare and six plotters in one process");
    on_ready(addr);
    let outcome = server.await;
    shutdown.cancel();
    while let Some(joined) = services.join_next().await {
        if let Ok(Err(e)) = joined {
            tracing::error!(error = format!("{e:#}"), "a service stopped with an error");
        }
    }
    outcome
}

async fn wait_until_serving(ready: &[Readiness]) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !ready.iter().all(Readiness::is_serving) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .context("the in-process services did not start within 10 s")
}
