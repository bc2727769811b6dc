//! The stack under test when no `--gateway` is given: a real nats-server, a real S3
//! server (s3s-fs) and the service binaries (prepare, six plotters, gateway), all on
//! loopback; a candle directory with synthetic 1-minute klines for the windows the
//! bundled samples cannot give (4 320 and 100 000+ one-minute candles); and a fake
//! Binance (synthetic candles of any interval up to now) that prepare's `binance`
//! source is pointed at, so no run ever reaches the real exchange.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use waveplot_testkit::fake_binance::FakeBinance;
use waveplot_testkit::{NatsServer, S3Server, Service, free_port};

/// The synthetic 1-minute file: enough for the large window.
pub const SYNTHETIC: &str = "BTCUSDT-1m-synthetic.csv";
/// Candles in the synthetic file.
pub const SYNTHETIC_CANDLES: usize = 120_000;

/// The S3 bucket of the stack.
pub const BUCKET: &str = "waveplot-bench";

/// A running stack.
pub struct Stack {
    /// The NATS server (the fault suite restarts it).
    pub nats: NatsServer,
    /// The S3 server (the fault suite stops it for a while).
    pub s3: S3Server,
    /// The fake Binance prepare fetches from.
    pub binance: FakeBinance,
    /// The runtime the fake Binance (and the fault suite's bus and store clients) run on.
    pub runtime: tokio::runtime::Runtime,
    _candles: tempfile::TempDir,
    /// Every service, by name (`prepare`, `plotter-01` … `plotter-05`, `gateway`).
    pub services: Vec<(String, Service)>,
    /// The gateway's base URL.
    pub url: String,
    plotter_bin: String,
    env: Vec<(&'static str, String)>,
}

impl Stack {
    /// Starts everything from the binaries in `bin_dir`, with a render deadline of
    /// `deadline_s` and `synthetic` candles in the synthetic 1-minute file.
    pub fn start(bin_dir: &Path, deadline_s: u64, synthetic: usize) -> Result<Self> {
        let bin = |name: &str| -> Result<String> {
            let path = bin_dir.join(name);
            anyhow::ensure!(
                path.exists(),
                "{} not found; build with `cargo build --release --workspace` or pass --bin-dir",
                path.display()
            );
            Ok(path.to_string_lossy().into_owned())
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("Tokio runtime")?;
        let binance = runtime.block_on(FakeBinance::start_synthetic());
        let nats = NatsServer::start();
        let s3 = S3Server::start();
        let candles = tempfile::tempdir().context("candle directory")?;
        write_synthetic(&candles.path().join(SYNTHETIC), synthetic)?;
        let mut env = s3.env();
        env.push(("NATS_URL", nats.url()));
        env.push(("STORE_URL", format!("s3://{BUCKET}")));
        env.push(("RUST_LOG", "warn".into()));
        let mut services = Vec::new();
        let mut prepare_env = env.clone();
        prepare_env.push(("CANDLE_DIR", candles.path().display().to_string()));
        prepare_env.push(("BINANCE_URL", binance.url.clone()));
        services.push((
            "prepare".to_owned(),
            Service::start(&bin("prepare")?, &[], &prepare_env),
        ));
        let plotter_bin = bin("plotter")?;
        for plot in PLOTS {
            services.push((
                format!("plotter-{plot}"),
                start_plotter(&plotter_bin, &env, plot),
            ));
        }
        let port = free_port();
        let mut gateway_env = env.clone();
        gateway_env.push(("HTTP_ADDR", format!("127.0.0.1:{port}")));
        gateway_env.push(("RENDER_DEADLINE", format!("{deadline_s}s")));
        services.push((
            "gateway".to_owned(),
            Service::start_http(&bin("gateway")?, &[], &gateway_env, port),
        ));
        Ok(Self {
            nats,
            s3,
            binance,
            runtime,
            _candles: candles,
            services,
            url: format!("http://127.0.0.1:{port}"),
            plotter_bin,
            env,
        })
    }

    /// The service called `name`.
    ///
    /// # Panics
    /// If the stack has no such service.
    pub fn service(&mut self, name: &str) -> &mut Service {
        self.services
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no service {name} in the stack"))
    }

    /// Starts the plotter of `plot` again (after it was killed), as a container
    /// runtime's restart policy would, and waits until it is ready.
    pub fn restart_plotter(&mut self, plot: &str) {
        let fresh = start_plotter(&self.plotter_bin, &self.env, plot);
        *self.service(&format!("plotter-{plot}")) = fresh;
    }

    /// The `AWS_*` settings of the stack's S3 server, for a store client of its own.
    pub fn s3_vars(&self) -> Vec<(String, String)> {
        self.s3
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    /// Peak RSS of every service, MiB.
    pub fn peak_rss_mib(&self) -> Vec<(String, f64)> {
        self.services
            .iter()
            .filter_map(|(name, s)| Some((name.clone(), s.peak_rss()? as f64 / (1024.0 * 1024.0))))
            .collect()
    }
}

/// The six plot IDs, one plotter each.
pub const PLOTS: [&str; 6] = ["01", "02a", "02b", "03", "04", "05"];

fn start_plotter(bin: &str, env: &[(&'static str, String)], plot: &str) -> Service {
    let mut env = env.to_vec();
    env.push(("PLOT_ID", plot.to_owned()));
    Service::start(bin, &[], &env)
}

/// The directory the running binary lives in (where `cargo build` puts the services too).
pub fn own_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default()
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
