//! `plotter`: draws one of the six charts (`PLOT_ID`) for every `prepared` event, or
//! renders charts from a blob file on the command line.

mod cli;
mod config;

use anyhow::{Context as _, Result};
use clap::Parser;
use waveplot_plotter::service;
use waveplot_service::{health, run_service};

use crate::config::{Command, Config};

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
    if let Some(Command::Render(r)) = config.command {
        return cli::render_command(&r);
    }
    let plot = args.plot_id.context(
        "say which chart this plotter draws: PLOT_ID or --plot-id (01, 02a, 02b, 03, 04, 05)",
    )?;
    let settings = service::Settings {
        plot,
        concurrency: args.concurrency,
        grace: args.grace,
    };
    let name = format!("plotter-{plot}");
    tokio::runtime::Runtime::new()
        .context("start the async runtime")?
        .block_on(run_service(
            &name,
            &args.bus,
            &args.store,
            args.health_addr,
            |ctx, ready, stop| service::run(ctx, settings, ready, stop),
        ))
}
