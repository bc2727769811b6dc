//! `prepare`: loads candles, runs the wavelet analysis and stores the blob.

mod config;

use clap::Parser;

use crate::config::{Command, Config};

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.log.init();
    match config.command {
        Some(Command::Analyze(args)) => {
            tracing::info!(?args, "analyze");
            anyhow::bail!("the analysis is not built yet")
        }
        None => {
            tracing::info!(serve = ?config.serve, "prepare configuration");
            anyhow::bail!("the prepare bus service is not built yet; run `prepare analyze`")
        }
    }
}
