//! `gateway`: waveplot's web page, HTTP API and event gatherer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::Result;
use clap::Parser;
use waveplot_gateway::config::Config;
use waveplot_gateway::{Settings, serve};
use waveplot_protocol::Source;

/// Where the gateway listens unless HTTP_ADDR says otherwise: every interface of its
/// container.
const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080);

fn main() -> Result<()> {
    let config = Config::parse();
    let http_addr = config.http.http_addr.unwrap_or(DEFAULT_ADDR);
    // HEALTH_ADDR moves the health and metrics routes to a listener of their own;
    // without it the HTTP port serves them.
    let health = (config.service.health_addr).filter(|a| *a != http_addr);
    config.service.begin(health.unwrap_or(http_addr));
    let settings = Settings::new(
        &config.http,
        DEFAULT_ADDR,
        health.is_none(),
        vec![Source::Binance, Source::Sample],
    );
    waveplot_service::run(
        "gateway",
        "The web page and the HTTP API; gathers the events of the renders it started",
        &config.service,
        health,
        |ctx, ready, stop| async move {
            let (addr, server) = serve(ctx, settings, ready, stop).await?;
            tracing::info!(%addr, "gateway is serving");
            server.await
        },
    )
}
