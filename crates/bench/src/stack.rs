//! The stack under test when no `--gateway` is given: a real nats-server, a real S3
//! server (s3s-fs, or Garage with `--s3 garage`) and the service binaries (prepare,
//! six plotters, gateway), all on loopback; a candle directory with synthetic 1-minute klines for the windows the
//! bundled samples cannot give (4 320 and 100 000+ one-minute candles); and a fake
//! Binance (synthetic candles of any interval up to now, and their kline streams) that
//! prepare's `binance` source and live following are pointed at, so no run ever
//! reaches the real exchange.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use waveplot_testkit::Role;
use waveplot_testkit::fake_binance::FakeBinance;
use waveplot_testkit::fake_binance::ws::FakeBinanceWs;

/// The synthetic 1-minute file: enough for the large window.
pub const SYNTHETIC: &str = "BTCUSDT-1m-synthetic.csv";
/// Candles in the synthetic file.
pub const SYNTHETIC_CANDLES: usize = 120_000;
/// Candles in the synthetic file for `--large`: a million-candle window and room to spare.
pub const SYNTHETIC_CANDLES_LARGE: usize = 1_050_000;

/// The S3 server a stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum S3 {
    /// `s3s-fs`, a test server over a directory, one key for every service.
    #[value(name = "s3s-fs")]
    S3sFs,
    /// A one-node Garage, each service with its role's own key.
    Garage,
}

/// A running stack.
pub struct Stack {
    /// nats-server, the S3 server and the services (the fault suite restarts the
    /// first, stops the second and kills a plotter).
    pub system: waveplot_testkit::Stack,
    /// The fake Binance prepare fetches from.
    pub binance: FakeBinance,
    /// The fake Binance kline streams prepare follows.
    pub ws: FakeBinanceWs,
    /// The runtime the fake Binance (and the fault suite's bus and store clients) run on.
    pub runtime: tokio::runtime::Runtime,
    _candles: tempfile::TempDir,
}

impl Stack {
    /// Starts everything from the binaries in `bin_dir`, with a render deadline of
    /// `deadline_s`, `synthetic` candles in the synthetic 1-minute file and the S3
    /// server `s3`.
    pub fn start(bin_dir: &Path, deadline_s: u64, synthetic: usize, s3: S3) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("Tokio runtime")?;
        let binance = runtime.block_on(FakeBinance::start_synthetic());
        let ws = runtime.block_on(FakeBinanceWs::start());
        let candles = tempfile::tempdir().context("candle directory")?;
        let file = candles.path().join(SYNTHETIC);
        waveplot_testkit::klines::write_walk(&file, synthetic)
            .with_context(|| format!("write {}", file.display()))?;
        let builder = waveplot_testkit::Stack::builder()
            .bin_dir(bin_dir)
            .render_deadline(Duration::from_secs(deadline_s))
            .env(
                Role::Prepare,
                "CANDLE_DIR",
                candles.path().display().to_string(),
            )
            .env(Role::Prepare, "BINANCE_URL", &binance.url)
            .env(Role::Prepare, "BINANCE_WS_URL", &ws.url);
        // As the images set it (deploy/Dockerfile): the peaks measured are the deployment's.
        let builder = Role::ALL.into_iter().fold(builder, |b, role| {
            b.env(role, "MALLOC_MMAP_THRESHOLD_", "1048576")
        });
        let builder = match s3 {
            S3::S3sFs => builder,
            S3::Garage => builder.garage(),
        };
        if let Some(path) = builder.missing_binary() {
            anyhow::bail!(
                "{} not found; build with `cargo build --release --workspace` or pass --bin-dir",
                path.display()
            );
        }
        Ok(Self {
            system: builder.start(),
            binance,
            ws,
            runtime,
            _candles: candles,
        })
    }

    /// Every process of the stack, named, with its ID: nats-server, the S3 server and
    /// the services.
    pub fn processes(&self) -> Vec<(String, u32)> {
        let servers = [
            ("nats-server".to_owned(), self.system.nats.pid()),
            (self.system.s3.name().to_owned(), self.system.s3.pid()),
        ];
        let services = self
            .system
            .services()
            .map(|(role, s)| (role.to_string(), s.pid()));
        servers
            .into_iter()
            .chain(services)
            .filter_map(|(name, pid)| Some((name, pid?)))
            .collect()
    }

    /// Peak RSS of every service, MiB.
    pub fn peak_rss_mib(&self) -> Vec<(String, f64)> {
        self.system
            .services()
            .filter_map(|(role, s)| {
                Some((role.to_string(), s.peak_rss()? as f64 / (1024.0 * 1024.0)))
            })
            .collect()
    }

    /// Each service's publish acknowledgements so far, from the
    /// `waveplot_publish_ack_seconds` summary on its `/metrics`; services that
    /// published nothing are left out.
    pub fn publish_acks(&self) -> Vec<(String, crate::report::PublishAcks)> {
        let Ok(http) = crate::client::client() else {
            return Vec::new();
        };
        self.system
            .services()
            .filter_map(|(role, s)| {
                let text = http
                    .get(format!("http://{}/metrics", s.health))
                    .send()
                    .and_then(reqwest::blocking::Response::text)
                    .ok()?;
                let acks = crate::report::PublishAcks::from_metrics(&text)?;
                Some((role.to_string(), acks))
            })
            .collect()
    }
}
