//! The single-process mode: gateway, prepare and the six plotters in one process, over
//! an in-process bus and a store in a local directory. The same service code as the
//! distributed deployment; only the transport and the store differ. This is the "run it
//! on a laptop" mode: no Docker, NATS or S3 server needed.
//!
//! # Layout
//!
//! - [`config`]: the `waveplot` binary's flags.
//! - [`run`]: starts the services over one context and serves the page until shutdown.

pub mod config;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio_util::sync::CancellationToken;
use waveplot_prepare::backend::Backend;
use waveplot_protocol::PlotId;
use waveplot_service::Context;
use waveplot_service::health::Readiness;

// The gateway answers a finished render from memory only while the store is sure to
// keep its charts.
const _: () = assert!(
    waveplot_gateway::registry::REUSE_FOR.as_secs()
        < waveplot_prepare::retention::MIN_AGE.as_secs()
);

/// What the in-process prepare needs beyond the shared context.
#[derive(Debug)]
pub struct Options {
    /// The operator's candle files for `file:NAME`.
    pub candle_dir: Option<PathBuf>,
    /// Binance REST base URL.
    pub binance_url: String,
    /// How the in-process prepare follows watched pairs live.
    pub live: waveplot_prepare::live::LiveSettings,
    /// Most candles one request may analyse.
    pub max_window: u32,
    /// MiB of parsed klines files the in-process prepare keeps.
    pub file_cache_mib: u32,
    /// How long and how much the data directory keeps.
    pub retention: waveplot_prepare::retention::Retention,
    /// MiB the in-process prepare's renders may take together.
    pub prepare_memory: u32,
    /// MiB each in-process plotter draws in.
    pub plot_memory: u32,
    /// The compute backend of the in-process prepare.
    pub backend: Backend,
}

/// Runs prepare, the six plotters and the gateway over `ctx` until `shutdown`;
/// `on_ready` gets the bound HTTP address once every service is serving.
pub async fn run(
    ctx: Context,
    gateway: waveplot_gateway::Settings,
    options: Options,
    readiness: Readiness,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let mut services = tokio::task::JoinSet::new();
    let mut ready = Vec::new();
    let mut readiness_of = || {
        let r = Readiness::new(ctx.bus.clone(), ctx.store.clone());
        ready.push(r.clone());
        r
    };
    let prepare = waveplot_prepare::service::Settings {
        candle_dir: options.candle_dir,
        binance_url: options.binance_url,
        backend: Arc::new(options.backend),
        concurrency: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        max_window: options.max_window,
        file_cache_mib: options.file_cache_mib,
        memory_mib: options.prepare_memory,
        retention: options.retention,
        uses: waveplot_prepare::retention::Uses::default(),
        live: options.live,
    };
    services.spawn(waveplot_prepare::service::run(
        ctx.clone(),
        prepare,
        readiness_of(),
        shutdown.clone(),
    ));
    for plot in PlotId::ALL {
        let settings = waveplot_plotter::service::Settings {
            plot,
            concurrency: 1,
            memory_mib: options.plot_memory,
        };
        services.spawn(waveplot_plotter::service::run(
            ctx.clone(),
            settings,
            readiness_of(),
            shutdown.clone(),
        ));
    }
    wait_until_serving(&ready).await?;
    let store = ctx.store.describe().to_owned();
    let (addr, server) = waveplot_gateway::serve(ctx, gateway, readiness, shutdown.clone()).await?;
    tracing::info!(%addr, %store, "gateway is serving, with prepare and six plotters in the same process");
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
