//! `plotter`: draws one of the six charts (`PLOT_ID`) for every `prepared` event, or
//! renders charts from a blob file on the command line.

mod cli;
mod config;

use clap::Parser;

use crate::config::{Command, Config};

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.log.init();
    match config.command {
        Some(Command::Render(args)) => cli::render_command(&args),
        None => {
            tracing::info!(serve = ?config.serve, "plotter configuration");
            anyhow::bail!("the plotter's bus service is not built yet")
        }
    }
}
