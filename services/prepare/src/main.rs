//! `prepare`: loads candles, runs the wavelet analysis and stores the blob.

use anyhow::{Context as _, Result};
use clap::Parser;
use waveplot_prepare::backend::Backend;
use waveplot_prepare::config::{Command, Config, ServeArgs};
use waveplot_prepare::{analyze, service};
use waveplot_service::{Bus, Context, Store, health, shutdown};

fn main() -> Result<()> {
    let config = Config::parse();
    if config.serve.healthcheck {
        std::process::exit(if health::probe(config.serve.health_addr) {
            0
        } else {
            1
        });
    }
    config.log.init();
    match config.command {
        Some(Command::Analyze(args)) => analyze::run(&args),
        None => tokio::runtime::Runtime::new()
            .context("start the async runtime")?
            .block_on(serve(config.serve)),
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let backend = tokio::task::spawn_blocking({
        let choice = args.backend.clone();
        move || Backend::start(&choice)
    })
    .await
    .context("backend start-up task")??;
    let shutdown = shutdown::on_signal();
    let bus = Bus::connect(&args.bus.nats_url, "prepare").await?;
    let store = Store::open(&args.store.store_url).await?;
    let readiness = health::Readiness::new(bus.clone(), store.clone());
    let (addr, health_task) = health::serve(args.health_addr, readiness.clone(), shutdown.clone())
        .await
        .with_context(|| format!("listen on {} for health checks", args.health_addr))?;
    tracing::info!(%addr, "health endpoint");
    let ctx = Context {
        bus: bus.clone(),
        store,
        subjects: args.bus.subject_prefix.clone(),
    };
    let outcome = service::run(ctx, args.settings(backend), readiness, shutdown.clone()).await;
    shutdown.cancel();
    bus.drain().await;
    let _ = health_task.await;
    outcome
}
