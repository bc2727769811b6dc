//! `gateway`: waveplot's web page, HTTP API and event gatherer.
//!
//! It publishes render requests on NATS, gathers the `done`/`failed` events of each
//! request and serves the charts from the object store. It never computes wavelets or
//! draws charts. `--standalone` runs the whole system in this one process.

mod config;

use clap::Parser;

use crate::config::Config;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.log.init();
    tracing::info!(?config, "gateway configuration");
    anyhow::bail!(
        "the gateway's HTTP service is not built yet; run `prepare analyze` for a one-shot analysis"
    )
}
