//! `gateway`: waveplot's web page, HTTP API and event gatherer; `--standalone` runs the
//! whole system in this one process.

use anyhow::{Context as _, Result};
use clap::Parser;
use waveplot_gateway::config::Config;
use waveplot_gateway::{Settings, serve, standalone};
use waveplot_protocol::Source;
use waveplot_service::health::{self, Readiness};
use waveplot_service::{Bus, Context, Store, shutdown};

fn main() -> Result<()> {
    let config = Config::parse();
    if config.healthcheck {
        std::process::exit(if health::probe(config.http_addr) {
            0
        } else {
            1
        });
    }
    config.log.init();
    if config.backend.list_gpus {
        return waveplot_prepare::backend::list_gpus();
    }
    tokio::runtime::Runtime::new()
        .context("start the async runtime")?
        .block_on(run(config))
}

async fn run(config: Config) -> Result<()> {
    let stop = shutdown::on_signal();
    let mut sources = vec![Source::Binance, Source::Sample];
    if config.standalone {
        sources.swap(0, 1);
        let options = standalone::Options {
            data_dir: config.data_dir.clone(),
            candle_dir: config.candle_dir.clone(),
            binance_url: config.binance_url.clone(),
            backend: waveplot_prepare::backend::Backend::start(&config.backend)?,
            grace: config.grace,
        };
        let settings = Settings {
            http_addr: config.http_addr,
            deadline: config.deadline,
            sources,
        };
        return standalone::run(settings, options, stop, |addr| {
            let shown = if addr.ip().is_unspecified() {
                format!("127.0.0.1:{}", addr.port())
            } else {
                addr.to_string()
            };
            println!("waveplot is running: open http://{shown}/ (Ctrl-C stops it)");
        })
        .await;
    }
    let bus = Bus::connect(&config.bus.nats_url, "gateway").await?;
    let store = Store::open(&config.store.store_url).await?;
    let ctx = Context {
        bus: bus.clone(),
        store: store.clone(),
        subjects: config.bus.subject_prefix.clone(),
    };
    let settings = Settings {
        http_addr: config.http_addr,
        deadline: config.deadline,
        sources,
    };
    let (addr, server) = serve(ctx, settings, Readiness::new(bus.clone(), store), stop).await?;
    tracing::info!(%addr, "gateway is serving");
    let outcome = server.await;
    bus.drain().await;
    outcome
}
