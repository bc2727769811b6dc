//! The flags every waveplot service shares, each with its environment twin: where the
//! bus and the store are, how logs are written, where the health endpoint listens and
//! how long a shutdown may take. Each binary flattens [`ServiceArgs`] into its own
//! clap struct, so the names are the same everywhere; they are a contract that compose
//! files and scripts rely on.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use secrecy::SecretString;
use tracing_subscriber::EnvFilter;
use waveplot_protocol::Subjects;
use waveplot_protocol::subject::DEFAULT_PREFIX;

use crate::bus::NatsLogin;
use crate::health;
use crate::store::{Store, StoreError};

/// What every service takes: bus, store, logs, health endpoint and shutdown.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// Check the health endpoint of a running instance and exit 0 if it is ready
    /// (for container healthchecks; the images have no curl).
    #[arg(long)]
    pub healthcheck: bool,
    /// Address of the health and metrics endpoint (`/livez`, `/readyz`, `/metrics`);
    /// default: prepare 0.0.0.0:9101, plotters 0.0.0.0:9102, the gateway its HTTP port.
    #[arg(long, env = "HEALTH_ADDR")]
    pub health_addr: Option<SocketAddr>,
    /// How long in-flight work may take to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
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

impl ServiceArgs {
    /// The first step of every service's `main`: with `--healthcheck`, probes `probe`
    /// (the instance's health endpoint) and exits the process, 0 when it is ready and
    /// 1 otherwise; without it, starts logging.
    pub fn begin(&self, probe: SocketAddr) {
        if self.healthcheck {
            std::process::exit(if health::probe(probe) { 0 } else { 1 });
        }
        self.log.init();
    }
}

/// Message bus settings.
#[derive(Debug, Clone, Args)]
pub struct BusArgs {
    /// NATS server URL (or several, comma-separated), without a user or password:
    /// those go in NATS_USER and NATS_PASSWORD_FILE or NATS_PASSWORD.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// The NATS user this service logs in as (`deploy/nats/nats.conf` has `gateway`,
    /// `prepare` and `plotter`); without it (or NATS_CREDS), the connection is
    /// anonymous.
    #[arg(long, env = "NATS_USER")]
    pub nats_user: Option<String>,
    /// A NATS credentials file (a user JWT and its nkey seed, as `nsc` writes it), for
    /// a server in operator mode, instead of NATS_USER and a password.
    #[arg(long, env = "NATS_CREDS", conflicts_with_all = ["nats_user", "nats_password", "nats_password_file"])]
    pub nats_creds: Option<PathBuf>,
    /// A file holding the user's password, such as a container secret (one trailing
    /// newline is ignored). Preferred over NATS_PASSWORD, which `docker inspect` shows.
    #[arg(long, env = "NATS_PASSWORD_FILE", conflicts_with = "nats_password")]
    pub nats_password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the NATS server's certificate, for a `tls://`
    /// NATS_URL with a private CA (between boards; the system's roots are trusted
    /// anyway).
    #[arg(long, env = "NATS_CA_FILE")]
    pub nats_ca_file: Option<PathBuf>,
    /// The user's password. Never logged; a flag would show in `ps`, so set the
    /// variable or use NATS_PASSWORD_FILE.
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    pub nats_password: Option<SecretString>,
    /// Prefix of every subject, so several deployments can share one NATS server.
    #[arg(long, env = "WAVEPLOT_SUBJECT_PREFIX", default_value = DEFAULT_PREFIX, value_parser = parse_prefix)]
    pub subject_prefix: Subjects,
    /// How long the JetStream stream keeps events; a service down for longer misses
    /// them (give every service the same value: the last one started sets it).
    #[arg(long, env = "EVENTS_MAX_AGE", default_value = "1h", value_parser = parse_max_age)]
    pub events_max_age: Duration,
    /// MiB of events the stream keeps on the NATS server's disk, oldest dropped first.
    #[arg(long, env = "EVENTS_MAX_MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub events_max_mib: u64,
}

impl BusArgs {
    /// The login NATS_USER and its password give, `None` without a user.
    ///
    /// # Errors
    /// A NATS_URL that holds credentials (the error does not repeat it), a user without
    /// a password (or a password without a user), a password file that cannot be read,
    /// or a user name that cannot name an inbox.
    pub fn login(&self) -> anyhow::Result<Option<NatsLogin>> {
        check_nats_url(&self.nats_url)?;
        let password = match (&self.nats_password, &self.nats_password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("read the NATS password from {}", path.display()))?;
                let text = text.strip_suffix('\n').unwrap_or(&text);
                Some(SecretString::from(text.strip_suffix('\r').unwrap_or(text)))
            }
            (None, None) => None,
        };
        match (&self.nats_user, password) {
            (Some(user), Some(password)) => NatsLogin::new(user, password)
                .map(Some)
                .map_err(anyhow::Error::msg),
            (None, None) => Ok(None),
            (Some(user), None) => anyhow::bail!(
                "NATS_USER is {user} but no password is set: set NATS_PASSWORD_FILE or NATS_PASSWORD"
            ),
            (None, Some(_)) => {
                anyhow::bail!("a NATS password is set but no NATS_USER to log in as")
            }
        }
    }

    /// What the event stream keeps.
    pub fn event_limits(&self) -> crate::bus::EventLimits {
        crate::bus::EventLimits {
            max_age: self.events_max_age,
            max_bytes: self.events_max_mib << 20,
        }
    }
}

/// A stream age of a minute to a week: shorter would drop events a render still
/// waits for, longer keeps what nobody reads.
fn parse_max_age(s: &str) -> Result<Duration, String> {
    let age = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if (Duration::from_secs(60)..=Duration::from_secs(7 * 86_400)).contains(&age) {
        Ok(age)
    } else {
        Err(format!("{s} is outside 1m to 7d"))
    }
}

/// A server list without credentials: a password in a URL ends up in logs, process
/// listings and error messages. Checked here rather than by clap, whose error would
/// repeat the value.
fn check_nats_url(s: &str) -> anyhow::Result<()> {
    for server in s.split(',').map(str::trim) {
        let with_scheme = if server.contains("://") {
            server.to_owned()
        } else {
            format!("nats://{server}")
        };
        let holds_credentials = url::Url::parse(&with_scheme)
            .is_ok_and(|url| !url.username().is_empty() || url.password().is_some());
        anyhow::ensure!(
            !holds_credentials && !server.contains('@'),
            "NATS_URL may not hold a user, password or token: set NATS_USER and NATS_PASSWORD_FILE (or NATS_PASSWORD)"
        );
    }
    Ok(())
}

fn parse_secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s))
}

fn parse_prefix(s: &str) -> Result<Subjects, String> {
    Subjects::new(s).map_err(|e| e.to_string())
}

/// Object store settings.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Object store URL: `s3://BUCKET` (with the standard AWS_ENDPOINT, AWS_REGION,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ALLOW_HTTP variables),
    /// `file:///PATH` or `memory:///`.
    #[arg(long, env = "STORE_URL", default_value = "s3://waveplot")]
    pub store_url: String,
    /// Where charts (`plots/…`) are kept, if not in STORE_URL: the same kinds of URL,
    /// and the same S3 settings. A bucket of their own lets the gateway, which only
    /// serves charts, hold a key for that bucket alone.
    #[arg(long, env = "CHARTS_STORE_URL")]
    pub charts_store_url: Option<String>,
}

impl StoreArgs {
    /// Opens the store, with the charts' own store when one is named.
    pub async fn open(&self) -> Result<Store, StoreError> {
        let store = Store::open(&self.store_url).await?;
        match &self.charts_store_url {
            Some(url) => Ok(store.with_charts(Store::open(url).await?)),
            None => Ok(store),
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Log settings. Levels come from `RUST_LOG` (default `info`).
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// Starts `tracing` to stderr, filtered by `RUST_LOG`. Call once, first thing in `main`.
    pub fn init(&self) {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr);
        match self.log_format {
            LogFormat::Pretty => builder.init(),
            LogFormat::Json => builder.json().init(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use secrecy::ExposeSecret;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        service: ServiceArgs,
    }

    #[test]
    fn the_shared_flags_are_well_formed_and_name_their_environment_twins() {
        Flags::command().debug_assert();
        let help = Flags::command().render_long_help().to_string();
        for var in [
            "NATS_URL",
            "WAVEPLOT_SUBJECT_PREFIX",
            "STORE_URL",
            "CHARTS_STORE_URL",
            "HEALTH_ADDR",
            "SHUTDOWN_GRACE",
            "LOG_FORMAT",
            "NATS_USER",
            "NATS_PASSWORD_FILE",
            "NATS_CREDS",
        ] {
            assert!(help.contains(var), "--help does not mention {var}");
        }
    }

    #[test]
    fn a_credentials_file_replaces_the_user_and_password() {
        let f = Flags::try_parse_from(["x", "--nats-creds", "/run/secrets/plotter.creds"]).unwrap();
        assert_eq!(
            f.service.bus.nats_creds.as_deref(),
            Some(std::path::Path::new("/run/secrets/plotter.creds"))
        );
        assert!(f.service.bus.login().unwrap().is_none());
        let both = ["x", "--nats-creds", "a.creds", "--nats-user", "plotter"];
        let e = Flags::try_parse_from(both).unwrap_err();
        assert!(e.to_string().contains("cannot be used with"), "{e}");
    }

    #[test]
    fn grace_and_prefix_are_parsed_and_checked() {
        let f =
            Flags::try_parse_from(["x", "--grace", "3s", "--health-addr", "127.0.0.1:0"]).unwrap();
        assert_eq!(f.service.grace, Duration::from_secs(3));
        assert_eq!(f.service.health_addr.unwrap().port(), 0);
        let e = Flags::try_parse_from(["x", "--subject-prefix", "a..b"]).unwrap_err();
        assert!(e.to_string().contains("dot-separated tokens"), "{e}");
    }

    #[test]
    fn a_nats_url_holding_credentials_is_refused_without_echoing_them() {
        for url in [
            "nats://gateway:hunter2@nats:4222",
            "nats://hunter2@nats:4222",
            "nats://a:4222,tls://gateway:hunter2@b:4222",
            "gateway:hunter2@nats:4222",
        ] {
            let f = Flags::try_parse_from(["x", "--nats-url", url]).unwrap();
            let text = f.service.bus.login().unwrap_err().to_string();
            assert!(text.contains("NATS_USER"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
        let f = Flags::try_parse_from(["x", "--nats-url", "nats://a:4222, nats://b:4222"]).unwrap();
        assert!(f.service.bus.login().unwrap().is_none());
    }

    #[test]
    fn the_login_comes_from_the_user_and_a_password_or_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let file = file.to_str().unwrap();
        let f =
            Flags::try_parse_from(["x", "--nats-user", "plotter", "--nats-password-file", file])
                .unwrap();
        let login = f.service.bus.login().unwrap().unwrap();
        assert_eq!(login.user, "plotter");
        assert_eq!(login.password.expose_secret(), "s3cret");
        assert!(
            !format!("{f:?}{login:?}").contains("s3cret"),
            "Debug shows no password"
        );

        let f = Flags::try_parse_from(["x", "--nats-user", "plotter"]).unwrap();
        let e = f.service.bus.login().unwrap_err().to_string();
        assert!(e.contains("NATS_PASSWORD_FILE"), "{e}");
        let f = Flags::try_parse_from(["x", "--nats-password", "p"]).unwrap();
        let e = f.service.bus.login().unwrap_err().to_string();
        assert!(e.contains("no NATS_USER"), "{e}");
        let f = Flags::try_parse_from(["x", "--nats-user", "a.b", "--nats-password", "p"]).unwrap();
        let e = f.service.bus.login().unwrap_err().to_string();
        assert!(e.contains("letters, digits"), "{e}");
        let missing = dir.path().join("missing");
        let f = Flags::try_parse_from([
            "x",
            "--nats-user",
            "plotter",
            "--nats-password-file",
            missing.to_str().unwrap(),
        ])
        .unwrap();
        let e = format!("{:#}", f.service.bus.login().unwrap_err());
        assert!(e.contains("missing") && e.contains("No such file"), "{e}");
    }
}
