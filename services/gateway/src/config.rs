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
pub(crate) struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub(crate) http_addr: SocketAddr,
    /// How long a render may take before missing charts are reported as failed.
    #[arg(long, env = "RENDER_DEADLINE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) deadline: Duration,
    /// Run gateway, prepare and the six plotters in this one process, over an in-process
    /// bus and a local-directory store (no NATS, no S3 server needed).
    #[arg(long)]
    pub(crate) standalone: bool,
    /// Where standalone mode keeps blobs and charts.
    #[arg(long, env = "WAVEPLOT_DATA_DIR", default_value = "waveplot-data")]
    pub(crate) data_dir: PathBuf,
    #[command(flatten)]
    pub(crate) bus: BusArgs,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) log: LogArgs,
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
