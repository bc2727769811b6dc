//! The gateway's configuration: flags with environment twins, read once at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser};
use waveplot_service::ServiceArgs;

/// waveplot gateway: the web page, the HTTP API (`POST /api/render`, `GET /plots/{key}`)
/// and Server-Sent Events of render progress.
#[derive(Debug, Parser)]
#[command(name = "gateway", version)]
pub struct Config {
    /// How the gateway serves HTTP.
    #[command(flatten)]
    pub http: HttpArgs,
    /// What every service takes: bus, store, logs, health endpoint, grace period.
    /// The health routes are also served on the HTTP port.
    #[command(flatten)]
    pub service: ServiceArgs,
}

/// The gateway's own settings, shared with the single-process mode.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Address the HTTP server listens on; default: the gateway 0.0.0.0:8080 (in its
    /// container), the single-process `waveplot` 127.0.0.1:8080 (see its `--lan`).
    #[arg(long, env = "HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// How long a render may take before missing charts are reported as failed.
    #[arg(long, env = "RENDER_DEADLINE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub deadline: Duration,
    /// Renders this gateway runs at once; one more is answered 503 with Retry-After.
    #[arg(long, env = "MAX_RENDERS", default_value_t = 32,
        value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_renders: u32,
    /// HTTP connections open at once; one more is answered 503 and closed.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 512,
        value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,
    /// HTTP connections open at once from one address (an IPv6 /64 counts as one); one
    /// more is answered 503 and closed. Behind a reverse proxy every connection comes
    /// from the proxy: set it to HTTP_MAX_CONNECTIONS there.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 128,
        value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections_per_address: u32,
    /// How long a client may take to send a request's headers; also how long a
    /// kept-alive connection may sit idle.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

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
        assert_eq!(c.http.deadline, Duration::from_secs(5));
        assert_eq!(c.http.http_addr.unwrap().port(), 0);
        let e = Config::try_parse_from(["gateway", "--subject-prefix", "a..b"]).unwrap_err();
        assert!(e.to_string().contains("dot-separated tokens"), "{e}");
    }
}
