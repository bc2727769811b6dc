//! `prepare`: loads candles, runs the wavelet analysis and stores the blob.

use anyhow::{Context as _, Result};
use clap::Parser;
use waveplot_prepare::backend::{self, Backend};
use waveplot_prepare::config::{Command, Config};
use waveplot_prepare::{analyze, fetch, service};
use waveplot_service::{health, run_service};

fn main() -> Result<()> {
    let config = Config::parse();
    let args = config.serve;
    if args.healthcheck {
        std::process::exit(if health::probe(args.health_addr) {
            0
        } else {
            1
        });
    }
    config.log.init();
    if args.backend.list_gpus {
        return backend::list_gpus();
    }
    match config.command {
        Some(Command::Analyze(a)) => return analyze::run(&a),
        Some(Command::Fetch(f)) => return fetch::run(&f),
        None => {}
    }
    // The GPU context is made once, before serving; its choice is logged with the reason.
    let backend = Backend::start(&args.backend)?;
    let settings = args.settings(backend);
    tokio::runtime::Runtime::new()
        .context("start the async runtime")?
        .block_on(run_service(
            "prepare",
            &args.bus,
            &args.store,
            args.health_addr,
            |ctx, ready, stop| service::run(ctx, settings, ready, stop),
        ))
}
