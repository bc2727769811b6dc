//! `gateway`: waveplot's web page, HTTP API and event gatherer.

use anyhow::Result;
use clap::Parser;
use waveplot_gateway::config::Config;
use waveplot_gateway::{Settings, serve};
use waveplot_protocol::Source;

fn main() -> Result<()> {
    let config = Config::parse();
    // The HTTP port serves the health routes anyway; HEALTH_ADDR adds a listener.
    let health = (config.service.health_addr).filter(|a| *a != config.http.http_addr);
    config
        .service
        .begin(health.unwrap_or(config.http.http_addr));
    let settings = Settings::new(&config.http, vec![Source::Binance, Source::Sample]);
    waveplot_service::run(
        "gateway",
        &config.service,
        health,
        |ctx, ready, stop| async move {
            let (addr, server) = serve(ctx, settings, ready, stop).await?;
            tracing::info!(%addr, "gateway is serving");
            server.await
        },
    )
}
