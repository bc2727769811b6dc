//! The `waveplot` binary's flags, each with its environment twin, read once at start-up.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use waveplot_gateway::config::HttpArgs;
use waveplot_prepare::backend::BackendArgs;
use waveplot_prepare::config::{CandleArgs, RetentionArgs};
use waveplot_service::LogArgs;

/// waveplot: the whole system in one process — the web page and API, prepare and the
/// six plotters over an in-process bus, charts kept in a local directory. No NATS or S3
/// server needed.
#[derive(Debug, Parser)]
#[command(name = "waveplot", version)]
pub struct Config {
    /// How the page and the API are served.
    #[command(flatten)]
    pub http: HttpArgs,
    /// Serve the page to the LAN: listen on 0.0.0.0:8080 instead of 127.0.0.1:8080
    /// (HTTP_ADDR picks any other address). Anyone who reaches the port can start
    /// renders.
    #[arg(long, env = "WAVEPLOT_LAN", conflicts_with = "http_addr")]
    pub lan: bool,
    /// Where blobs and charts are kept.
    #[arg(long, env = "WAVEPLOT_DATA_DIR", default_value = "waveplot-data")]
    pub data_dir: PathBuf,
    /// Where the in-process prepare takes candles from.
    #[command(flatten)]
    pub candles: CandleArgs,
    /// How long and how much the data directory keeps.
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// MiB the in-process prepare's renders may take together, by estimate; a request
    /// that needs more is rejected with its need named.
    #[arg(long, env = "PREPARE_MEMORY", default_value_t = waveplot_prepare::service::DEFAULT_MEMORY_MIB,
        value_parser = clap::value_parser!(u32).range(64..))]
    pub prepare_memory: u32,
    /// MiB each in-process plotter draws in, by estimate; a chart that needs more is
    /// refused with its need named.
    #[arg(long, env = "PLOT_MEMORY", default_value_t = waveplot_plotter::service::DEFAULT_MEMORY_MIB,
        value_parser = clap::value_parser!(u32).range(64..))]
    pub plot_memory: u32,
    /// How long in-flight work may take to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// Compute backend of the in-process prepare.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Log settings.
    #[command(flatten)]
    pub log: LogArgs,
}

impl Config {
    /// Where the page is served unless HTTP_ADDR says otherwise: one process on
    /// someone's computer serves that computer only (127.0.0.1:8080), every interface
    /// (0.0.0.0:8080) with `--lan`.
    pub fn default_addr(&self) -> SocketAddr {
        let ip = if self.lan {
            Ipv4Addr::UNSPECIFIED
        } else {
            Ipv4Addr::LOCALHOST
        };
        SocketAddr::new(IpAddr::V4(ip), 8080)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_directory_and_the_http_address_come_from_flags() {
        let c = Config::try_parse_from([
            "waveplot",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
            "d",
            "--backend",
            "cpu",
        ])
        .unwrap();
        assert_eq!(c.http.http_addr.unwrap().port(), 0);
        assert_eq!(c.data_dir, PathBuf::from("d"));
        let loopback = Config::try_parse_from(["waveplot"]).unwrap();
        assert_eq!(loopback.default_addr().to_string(), "127.0.0.1:8080");
        let lan = Config::try_parse_from(["waveplot", "--lan"]).unwrap();
        assert_eq!(lan.default_addr().to_string(), "0.0.0.0:8080");
        let e = Config::try_parse_from(["waveplot", "--lan", "--http-addr", "0.0.0.0:1"]);
        assert!(e.is_err(), "--lan and --http-addr exclude each other");
        let e = Config::try_parse_from(["waveplot", "--standalone"]).unwrap_err();
        assert!(e.to_string().contains("--standalone"), "{e}");
    }
}
