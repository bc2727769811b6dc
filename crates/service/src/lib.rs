//! What the three waveplot services share, so that their flags, environment variables
//! and logs are the same everywhere.
//!
//! # Layout
//!
//! - [`bus`]: the message bus, NATS or in-process, behind one [`Bus`] type.
//! - [`health`]: `/livez`, `/readyz`, `/metrics` and the `--healthcheck` probe.
//! - [`shutdown`]: SIGTERM/Ctrl-C to a cancellation token.
//! - [`store`]: the object store (S3, a directory or memory) behind one [`Store`] type.
//! - [`Context`]: the bus, store and subjects a running service uses.
//! - [`BusArgs`]: where the NATS server is and which subject prefix to use.
//! - [`StoreArgs`]: which object store holds blobs and charts.
//! - [`LogArgs`]: log format; [`LogArgs::init`] starts `tracing`.
//!
//! Every setting is a flag with an environment twin (`--nats-url` / `NATS_URL`); these
//! names are a contract that compose files and scripts rely on.

pub mod bus;
pub mod health;
pub mod shutdown;
pub mod store;

use std::io::IsTerminal;

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;
use waveplot_protocol::Subjects;
use waveplot_protocol::subject::DEFAULT_PREFIX;

pub use bus::{Bus, BusError};
pub use store::{Store, StoreError};

/// What a running service talks to: the bus, the store, and the subject names.
#[derive(Debug, Clone)]
pub struct Context {
    /// The message bus.
    pub bus: Bus,
    /// The object store.
    pub store: Store,
    /// Subject names under the configured prefix.
    pub subjects: Subjects,
}

/// Runs a bus service the way every waveplot service runs: connect to NATS, open the
/// store, serve the health endpoint on `health_addr`, run `service` until SIGTERM or
/// Ctrl-C (or until it fails), then drain the NATS connection.
pub async fn run_service<F, Fut>(
    name: &str,
    bus: &BusArgs,
    store: &StoreArgs,
    health_addr: std::net::SocketAddr,
    service: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Context, health::Readiness, tokio_util::sync::CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    use anyhow::Context as _;
    let shutdown = shutdown::on_signal();
    let connection = Bus::connect(&bus.nats_url, name).await?;
    let store = Store::open(&store.store_url).await?;
    let readiness = health::Readiness::new(connection.clone(), store.clone());
    let (addr, health_task) = health::serve(health_addr, readiness.clone(), shutdown.clone())
        .await
        .with_context(|| format!("listen on {health_addr} for health checks"))?;
    tracing::info!(%addr, "{name}: health endpoint");
    let ctx = Context {
        bus: connection.clone(),
        store,
        subjects: bus.subject_prefix.clone(),
    };
    let outcome = service(ctx, readiness, shutdown.clone()).await;
    shutdown.cancel();
    connection.drain().await;
    let _ = health_task.await;
    outcome
}

/// Message bus settings.
#[derive(Debug, Clone, Args)]
pub struct BusArgs {
    /// NATS server URL.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Prefix of every subject, so several deployments can share one NATS server.
    #[arg(long, env = "WAVEPLOT_SUBJECT_PREFIX", default_value = DEFAULT_PREFIX, value_parser = parse_prefix)]
    pub subject_prefix: Subjects,
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
