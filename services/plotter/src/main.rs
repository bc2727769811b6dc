//! `plotter`: draws one of the six charts (`PLOT_ID`) for every `prepared` event, or
//! renders charts from a blob file on the command line.

mod cli;
mod config;

use anyhow::{Context as _, Result};
use clap::Parser;
use waveplot_plotter::service;

use crate::config::{Command, Config};

fn main() -> Result<()> {
    let config = Config::parse();
    let args = config.serve;
    args.service.begin(args.health_addr());
    if let Some(Command::Render(r)) = config.command {
        return cli::render_command(&r);
    }
    let plot = args.plot_id.context(
        "say which chart this plotter draws: PLOT_ID or --plot-id (01, 02a, 02b, 03, 04, 05)",
    )?;
    let settings = service::Settings {
        plot,
        concurrency: args.concurrency,
        memory_mib: args.memory_mib,
    };
    waveplot_service::run(
        &format!("plotter-{plot}"),
        &format!(
            "Draws chart {plot} ({}) from prepared windows",
            plot.title()
        ),
        &args.service,
        Some(args.health_addr()),
        |ctx, ready, stop| service::run(ctx, settings, ready, stop),
    )
}
