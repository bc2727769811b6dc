//! The stack under test when no `--gateway` is given: a real nats-server, a real S3
//! server (s3s-fs) and the service binaries (prepare, six plotters, gateway), all on
//! loopback; a candle directory with synthetic 1-minute klines for the windows the
//! bundled samples cannot give (4 320 and 100 000+ one-minute candles); and a fake
//! Binance (synthetic candles of any interval up to now) that prepare's `binance`
//! source is pointed at, so no run ever reaches the real exchange.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use waveplot_testkit::Role;
use waveplot_testkit::fake_binance::FakeBinance;

/// The synthetic 1-minute file: enough for the large window.
pub const SYNTHETIC: &str = "BTCUSDT-1m-synthetic.csv";
/// Candles in the synthetic file.
pub const SYNTHETIC_CANDLES: usize = 120_000;
/// Candles in the synthetic file for `--large`: a million-candle window and room to spare.
pub const SYNTHETIC_CANDLES_LARGE: usize = 1_050_000;

/// The S3 bucket of the stack.
const BUCKET: &str = "waveplot-bench";

/// A running stack.
pub struct Stack {
    /// nats-server, the S3 server and the services (the fault suite restarts the
    /// first, stops the second and kills a plotter).
    pub system: waveplot_testkit::Stack,
    /// The fake Binance prepare fetches from.
    pub binance: FakeBinance,
    /// The runtime the fake Binance (and the fault suite's bus and store clients) run on.
    pub runtime: tokio::runtime::Runtime,
    _candles: tempfile::TempDir,
}

impl Stack {
    /// Starts everything from the binaries in `bin_dir`, with a render deadline of
    /// `deadline_s` and `synthetic` candles in the synthetic 1-minute file.
    pub fn start(bin_dir: &Path, deadline_s: u64, synthetic: usize) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("Tokio runtime")?;
        let binance = runtime.block_on(FakeBinance::start_synthetic());
        let candles = tempfile::tempdir().context("candle directory")?;
        write_synthetic(&candles.path().join(SYNTHETIC), synthetic)?;
        let builder = waveplot_testkit::Stack::builder()
            .bin_dir(bin_dir)
            .bucket(BUCKET)
            .render_deadline(Duration::from_secs(deadline_s))
            .env(
                Role::Prepare,
                "CANDLE_DIR",
                candles.path().display().to_string(),
            )
            .env(Role::Prepare, "BINANCE_URL", &binance.url);
        if let Some(path) = builder.missing_binary() {
            anyhow::bail!(
                "{} not found; build with `cargo build --release --workspace` or pass --bin-dir",
                path.display()
            );
        }
        Ok(Self {
            system: builder.start(),
            binance,
            runtime,
            _candles: candles,
        })
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
}

/// A seeded random walk as a 1-minute klines CSV with header (Binance's 12 columns).
fn write_synthetic(path: &Path, n: usize) -> Result<()> {
    let mut out = String::from(
        "open_time_ms,open,high,low,close,volume,close_time_ms,quote_volume,trades,taker_buy_base,taker_buy_quote,ignore\n",
    );
    let (mut rng, mut close) = (
        fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15),
        30_000.0_f64,
    );
    let start = 1_700_000_000_000_i64 - 1_700_000_000_000_i64 % 60_000;
    for i in 0..n {
        // Whole cents from -10.00 to 10.00.
        let step = f64::from(rng.i32(-1000..=1000)) / 100.0;
        let open = close;
        close = (open + step).max(1.0);
        let (high, low) = (open.max(close) + 2.5, open.min(close) - 2.5);
        let t = start + i as i64 * 60_000;
        let _ = writeln!(
            out,
            "{t},{open:.2},{high:.2},{low:.2},{close:.2},12.5,{},375000.0,300,6.0,180000.0,0",
            t + 59_999
        );
    }
    std::fs::write(path, out).with_context(|| format!("write {}", path.display()))
}
