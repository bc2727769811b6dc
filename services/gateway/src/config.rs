//! The gateway's configuration: flags with environment twins, read once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use waveplot_service::{BusArgs, LogArgs, StoreArgs};

/// waveplot gateway: the web page, the HTTP API (`POST /api/render`, `GET /plots/{key}`)
/// and Server-Sent Events of render progress.
#[derive(Debug, Parser)]
#[command(name = "gateway", version)]
pub struct Config {
    /// Check the HTTP endpoint of a running gateway and exit 0 if it is ready (for
    /// container healthchecks; the images have no curl).
    #[arg(long)]
    pub healthcheck: bool,
    /// Directory of candle files that requests may name as `file:NAME` (standalone mode).
    #[arg(long, env = "CANDLE_DIR")]
    pub candle_dir: Option<PathBuf>,
    /// Binance REST base URL (standalone mode).
    #[arg(
        long,
        env = "BINANCE_URL",
        default_value = "https://data-api.binance.vision"
    )]
    pub binance_url: String,
    /// How long in-flight work may take to finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// Address the HTTP server listens on.
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// How long a render may take before missing charts are reported as failed.
    #[arg(long, env = "RENDER_DEADLINE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub deadline: Duration,
    /// Run gateway, prepare and the six plotters in this one process, over an in-process
    /// bus and a local-directory store (no NATS, no S3 server needed).
    #[arg(long)]
    pub standalone: bool,
    /// Where standalone mode keeps blobs and charts.
    #[arg(long, env = "WAVEPLOT_DATA_DIR", default_value = "waveplot-data")]
    pub data_dir: PathBuf,
    /// Compute backend of the in-process prepare (standalone mode).
    #[command(flatten)]
    pub backend: waveplot_prepare::backend::BackendArgs,
    /// Message bus settings.
    #[command(flatten)]
    pub bus: BusArgs,
    /// Object store settings.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Log settings.
    #[command(flatten)]
    pub log: LogArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Config::command().debug_assert();
    }

    #[test]
    fn help_names_every_environment_twin() {
        let help = Config::command().render_long_help().to_string();
        for var in [
            "HTTP_ADDR",
            "NATS_URL",
            "WAVEPLOT_SUBJECT_PREFIX",
            "STORE_URL",
            "RENDER_DEADLINE",
        ] {
            assert!(help.contains(var), "--help does not mention {var}");
        }
    }

    #[test]
    fn flags_override_defaults_and_bad_values_are_refused() {
        let c =
            Config::try_parse_from(["gateway", "--deadline", "5s", "--http-addr", "127.0.0.1:0"])
                .unwrap();
        assert_eq!(c.deadline, Duration::from_secs(5));
        assert_eq!(c.http_addr.port(), 0);
        let e = Config::try_parse_from(["gateway", "--subject-prefix", "a..b"]).unwrap_err();
        assert!(e.to_string().contains("dot-separated tokens"), "{e}");
    }
}
