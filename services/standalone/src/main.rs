//! `waveplot`: the whole system in one process; prints the page's URL once it serves.

use anyhow::{Context as _, Result};
use clap::Parser;
use waveplot_prepare::backend::{self, Backend};
use waveplot_protocol::Source;
use waveplot_service::bus::LocalBus;
use waveplot_service::{Bus, Context, Discovery, Store};
use waveplot_standalone::config::Config;
use waveplot_standalone::{Options, run};

fn main() -> Result<()> {
    let config = Config::parse();
    config.log.init();
    if backend::answer_probe(&config.backend) {
        return Ok(());
    }
    let options = Options {
        candle_dir: config.candles.candle_dir.clone(),
        binance_url: config.candles.binance.binance_url.clone(),
        live: config.candles.live.settings(),
        max_window: config.candles.max_window,
        file_cache_mib: config.candles.file_cache_mib,
        retention: config.retention.retention(),
        prepare_memory: config.prepare_memory,
        plot_memory: config.plot_memory,
        backend: Backend::start(&config.backend)?,
    };
    let gateway = waveplot_gateway::Settings::new(
        &config.http,
        config.default_addr(),
        true,
        vec![Source::Sample, Source::Binance],
    );
    tokio::runtime::Runtime::new()
        .context("start the async runtime")?
        .block_on(async {
            let ctx = Context {
                bus: Bus::Local(LocalBus::new()),
                store: Store::local_dir(&config.data_dir.join("store"))?,
                subjects: Default::default(),
                discovery: Discovery::new(
                    "standalone",
                    "The single-process waveplot",
                    waveplot_protocol::subject::DEFAULT_PREFIX,
                ),
            };
            let shutdown = waveplot_service::shutdown::on_signal();
            waveplot_service::run_with(
                "waveplot",
                ctx,
                None,
                config.grace,
                shutdown,
                |ctx, ready, stop| run(ctx, gateway, options, ready, stop, print_url),
            )
            .await
        })
}

fn print_url(addr: std::net::SocketAddr) {
    let shown = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };
    println!("waveplot is running: open http://{shown}/ (Ctrl-C stops it)");
}
