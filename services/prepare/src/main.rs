//! `prepare`: loads candles, runs the wavelet analysis and stores the blob.

use anyhow::Result;
use clap::Parser;
use waveplot_prepare::backend::{self, Backend};
use waveplot_prepare::cli::{analyze, fetch};
use waveplot_prepare::config::{Command, Config};
use waveplot_prepare::service;

fn main() -> Result<()> {
    let config = Config::parse();
    let args = config.serve;
    args.service.begin(args.health_addr());
    if backend::answer_probe(&args.backend) {
        return Ok(());
    }
    match config.command {
        Some(Command::Analyze(a)) => return analyze::run(&a),
        Some(Command::Fetch(f)) => return fetch::run(&f),
        None => {}
    }
    // The GPU context is made once, before serving; its choice is logged with the reason.
    let settings = args.settings(Backend::start(&args.backend)?);
    waveplot_service::run(
        "prepare",
        "Takes render requests, loads candles, runs the wavelet analysis and stores the blob",
        &args.service,
        Some(args.health_addr()),
        |ctx, ready, stop| service::run(ctx, settings, ready, stop),
    )
}
