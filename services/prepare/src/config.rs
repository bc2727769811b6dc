//! The prepare service's configuration: flags with environment twins, read once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use waveplot_protocol::{Interval, Mode, MraKind, Symbol, Wavelet};
use waveplot_service::ServiceArgs;

use crate::backend::BackendArgs;

/// waveplot prepare: loads candles, runs the wavelet analysis and stores the blob the
/// plotters draw from.
///
/// Without a subcommand it serves render requests from the bus; `analyze` runs one
/// analysis on the command line and `fetch` writes candles to a CSV file.
#[derive(Debug, Parser)]
#[command(name = "prepare", version, args_conflicts_with_subcommands = true)]
pub struct Config {
    /// A one-shot command instead of the service.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings of the service.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Where the health endpoint listens unless `HEALTH_ADDR` says otherwise.
pub const DEFAULT_HEALTH_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9101);

/// Settings of the bus service.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Renders prepared at the same time (default: the CPUs available).
    #[arg(long, env = "PREPARE_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// MiB the renders prepared at the same time may take together, by estimate; a
    /// request that needs more is rejected with its need named.
    #[arg(long, env = "PREPARE_MEMORY", default_value_t = crate::service::DEFAULT_MEMORY_MIB,
        value_parser = clap::value_parser!(u32).range(64..))]
    pub memory_mib: u32,
    /// Where candles come from.
    #[command(flatten)]
    pub candles: CandleArgs,
    /// Compute backend.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// How long and how much the store keeps.
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// What every service takes: bus, store, logs, health endpoint, grace period.
    #[command(flatten)]
    pub service: ServiceArgs,
}

impl ServeArgs {
    /// Where the health endpoint listens.
    pub fn health_addr(&self) -> SocketAddr {
        self.service.health_addr.unwrap_or(DEFAULT_HEALTH_ADDR)
    }

    /// The service settings these flags describe, with the backend already chosen.
    pub fn settings(&self, backend: crate::backend::Backend) -> crate::service::Settings {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        crate::service::Settings {
            candle_dir: self.candles.candle_dir.clone(),
            binance_url: self.candles.binance.binance_url.clone(),
            concurrency: self.concurrency.unwrap_or(cpus),
            max_window: self.candles.max_window,
            file_cache_mib: self.candles.file_cache_mib,
            memory_mib: self.memory_mib,
            retention: self.retention.retention(),
            uses: crate::retention::Uses::default(),
            backend: std::sync::Arc::new(backend),
            live: self.candles.live.settings(),
        }
    }
}

/// How long and how much the store keeps (blobs, charts, cached candles), for the
/// service and the single-process mode.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Blobs, charts and cached candles not written or used for this long are deleted
    /// (and computed again when asked for); never within ten minutes of a write or use.
    #[arg(long, env = "STORE_MAX_AGE", default_value = "7d", value_parser = humantime::parse_duration)]
    pub store_max_age: std::time::Duration,
    /// Past this many MiB in the store, the least recently written or used objects are
    /// deleted first.
    #[arg(long, env = "STORE_MAX_MIB", default_value_t = 2048,
        value_parser = clap::value_parser!(u64).range(16..))]
    pub store_max_mib: u64,
    /// How often the store is swept.
    #[arg(long, env = "STORE_SWEEP_EVERY", default_value = "10m", value_parser = humantime::parse_duration)]
    pub store_sweep_every: std::time::Duration,
}

impl RetentionArgs {
    /// The retention these flags describe; objects younger than ten minutes are never
    /// deleted for size (renders in flight read them).
    pub fn retention(&self) -> crate::retention::Retention {
        crate::retention::Retention {
            max_age: self.store_max_age,
            max_bytes: self.store_max_mib << 20,
            min_age: crate::retention::MIN_AGE,
            every: self
                .store_sweep_every
                .max(std::time::Duration::from_secs(1)),
        }
    }
}

/// Where the service takes candles from: the operator's files and Binance.
#[derive(Debug, Clone, Args)]
pub struct CandleArgs {
    /// Directory of candle files that requests may name as `file:NAME`.
    #[arg(long, env = "CANDLE_DIR")]
    pub candle_dir: Option<PathBuf>,
    /// Most candles one request may analyse (16 to 1000000); a request for more is
    /// rejected with this limit named.
    #[arg(long, env = "MAX_WINDOW", default_value_t = waveplot_protocol::request::MAX_WINDOW,
        value_parser = clap::value_parser!(u32).range(i64::from(waveplot_protocol::request::MIN_WINDOW)..=i64::from(waveplot_protocol::request::MAX_WINDOW)))]
    pub max_window: u32,
    /// MiB of parsed klines files kept in memory (0 to 4096), so that every window of
    /// a kept file after the first is cut from memory; a file larger than this is
    /// parsed for each window. On top of the renders' memory budget.
    #[arg(long, env = "FILE_CACHE_MIB", default_value_t = crate::service::DEFAULT_FILE_CACHE_MIB,
        value_parser = clap::value_parser!(u32).range(0..=4096))]
    pub file_cache_mib: u32,
    /// Binance's address.
    #[command(flatten)]
    pub binance: BinanceArgs,
    /// Following watched pairs live.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// How watched pairs are followed live on Binance's kline streams.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Binance WebSocket base URL; a pair's klines are streamed from
    /// `<URL>/ws/<symbol>@kline_<interval>`.
    #[arg(long, env = "BINANCE_WS_URL", default_value = crate::live::DEFAULT_WS_URL)]
    pub binance_ws_url: String,
    /// Most pairs followed live at once, 0 to 64 (0 refuses every watch).
    #[arg(long, env = "LIVE_PAIRS", default_value_t = 8,
        value_parser = clap::value_parser!(u16).range(0..=64))]
    pub live_pairs: u16,
    /// How long a watch lasts unless it is renewed, 1 s to 1 h.
    #[arg(long, env = "WATCH_LEASE", default_value = "30s", value_parser = lease)]
    pub watch_lease: std::time::Duration,
    /// A kline stream open this long is reopened, ahead of the disconnect Binance makes
    /// after 24 hours.
    #[arg(long, env = "LIVE_RECONNECT_AFTER", default_value = "23h 30m", value_parser = humantime::parse_duration)]
    pub live_reconnect_after: std::time::Duration,
}

impl LiveArgs {
    /// The settings these flags describe.
    pub fn settings(&self) -> crate::live::LiveSettings {
        crate::live::LiveSettings {
            ws_url: self.binance_ws_url.clone(),
            max_pairs: usize::from(self.live_pairs),
            lease: self.watch_lease,
            reconnect_after: self
                .live_reconnect_after
                .max(std::time::Duration::from_secs(1)),
        }
    }
}

/// A lease of 1 s to 1 h.
fn lease(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    let range = std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(3600);
    if range.contains(&d) {
        Ok(d)
    } else {
        Err(format!("{text} is outside 1s to 1h"))
    }
}

/// Binance's address, for the service and the command line alike.
#[derive(Debug, Clone, Args)]
pub struct BinanceArgs {
    /// Binance REST base URL.
    #[arg(
        long,
        env = "BINANCE_URL",
        default_value = "https://data-api.binance.vision"
    )]
    pub binance_url: String,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse candles (Binance, the bundled sample or a file) and write the blob (and
    /// optionally a JSON export).
    Analyze(AnalyzeArgs),
    /// Write candles (Binance, the bundled sample or a file) to a klines CSV with a header.
    Fetch(FetchArgs),
}

/// Where the command-line subcommands take candles from.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Candle source: `binance`, `sample` (bundled real data) or `file:PATH` (a klines
    /// CSV or a data.binance.vision `.zip`).
    #[arg(long, default_value = "binance")]
    pub source: CliSource,
    /// Binance's address.
    #[command(flatten)]
    pub binance: BinanceArgs,
}

/// A candle source named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliSource {
    /// Binance's REST API.
    Binance,
    /// The bundled sample.
    Sample,
    /// A klines file (CSV or zip) at this path.
    File(PathBuf),
}

impl std::str::FromStr for CliSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "binance" => Ok(Self::Binance),
            "sample" => Ok(Self::Sample),
            _ => match s.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(Self::File(path.into())),
                _ => Err(format!(
                    "unknown source '{s}'; use binance, sample or file:PATH"
                )),
            },
        }
    }
}

/// Arguments of `prepare fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Trading pair, e.g. BTC or BTCUSDT (USDT is added to a bare asset).
    pub symbol: Symbol,
    /// Kline interval, e.g. 5m.
    pub interval: Interval,
    /// Number of candles, counted back from the newest closed one; default: the
    /// interval's look-back (864 for 5m).
    #[arg(long, conflicts_with_all = ["start", "end"])]
    pub window: Option<u32>,
    /// First open time: `2024-01-01` or `2024-01-01T12:00:00Z` (UTC).
    #[arg(long, value_parser = utc_time)]
    pub start: Option<jiff::Timestamp>,
    /// Last open time, as `--start`; default with `--start`: now.
    #[arg(long, value_parser = utc_time, requires = "start")]
    pub end: Option<jiff::Timestamp>,
    /// Where the candles come from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Where to write the CSV.
    #[arg(long)]
    pub out: PathBuf,
}

/// A UTC time from `2024-01-01` (midnight) or `2024-01-01T12:00:00Z`.
fn utc_time(s: &str) -> Result<jiff::Timestamp, String> {
    s.parse()
        .or_else(|_| format!("{s}T00:00:00Z").parse())
        .map_err(|_| format!("'{s}' is not a UTC time like 2024-01-01 or 2024-01-01T12:00:00Z"))
}

/// Arguments of `prepare analyze`: `SYMBOL INTERVAL [--source …]`, or `--input FILE`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Trading pair to analyse from `--source`, e.g. BTC or BTCUSDT.
    #[arg(
        value_name = "SYMBOL",
        required_unless_present = "input",
        conflicts_with = "input"
    )]
    pub pair: Option<Symbol>,
    /// Kline interval of SYMBOL, e.g. 5m.
    #[arg(value_name = "INTERVAL", required_unless_present = "input")]
    pub pair_interval: Option<Interval>,
    /// Where SYMBOL's candles come from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Klines file instead of SYMBOL INTERVAL: Binance's 12 columns, with or without a
    /// header, open times in ms or µs, plain or zipped.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Kline interval of the `--input` file; taken from a Binance-style file name
    /// (`BTCUSDT-5m-...csv`) when left out.
    #[arg(long, requires = "input")]
    pub interval: Option<Interval>,
    /// Trading pair of the `--input` file; taken from the file name when left out.
    #[arg(long, requires = "input")]
    pub symbol: Option<Symbol>,
    /// Number of candles to analyse, counted back from the last; default: the
    /// interval's look-back (864 for 5m).
    #[arg(long)]
    pub window: Option<u32>,
    /// Wavelet (haar, db1-db20, sym2-sym20, coif1-coif5).
    #[arg(long, default_value = "haar")]
    pub wavelet: Wavelet,
    /// Decomposition levels (capped at what the window allows; the cap is reported).
    #[arg(long, default_value_t = 8)]
    pub levels: u32,
    /// Multiresolution analysis kind.
    #[arg(long, default_value = "modwt")]
    pub mra: MraKind,
    /// Signal extension mode of the DWT (PyWavelets' names).
    #[arg(long, default_value = "symmetric")]
    pub mode: Mode,
    /// Anomaly threshold factor k in median + k·MAD.
    #[arg(long, default_value_t = 6.0)]
    pub anomaly_k: f64,
    /// Smooth level used as the trend for signals.
    #[arg(long, default_value_t = 6)]
    pub trend_level: u32,
    /// Where to write the MessagePack blob.
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the JSON export (see the README for its fields).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Compute backend.
    #[command(flatten)]
    pub backend: BackendArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{BackendChoice, DEFAULT_GPU_MIN_CANDLES};

    #[test]
    fn analyze_parses_the_documented_flags() {
        let c = Config::try_parse_from([
            "prepare",
            "analyze",
            "--input",
            "k.csv",
            "--interval",
            "5m",
            "--symbol",
            "btc",
            "--mra",
            "dwt",
            "--out",
            "a.msgpack",
            "--json",
            "a.json",
        ])
        .unwrap();
        let Some(Command::Analyze(a)) = c.command else {
            panic!("not analyze")
        };
        assert_eq!(a.interval, Some(Interval::M5));
        assert_eq!(a.symbol.unwrap().as_str(), "BTCUSDT");
        assert_eq!(a.mra, MraKind::Dwt);
        assert_eq!(a.levels, 8);
        assert_eq!(a.backend.backend, BackendChoice::Auto);
        assert_eq!(a.backend.gpu_min_candles, DEFAULT_GPU_MIN_CANDLES);
    }

    #[test]
    fn the_file_cache_is_128_mib_unless_set_and_at_most_4096() {
        let c = Config::try_parse_from(["prepare"]).unwrap();
        assert_eq!(c.serve.candles.file_cache_mib, 128);
        let c = Config::try_parse_from(["prepare", "--file-cache-mib", "0"]).unwrap();
        assert_eq!(c.serve.candles.file_cache_mib, 0);
        let e = Config::try_parse_from(["prepare", "--file-cache-mib", "5000"]).unwrap_err();
        assert!(e.to_string().contains("0..=4096"), "{e}");
    }

    #[test]
    fn the_backend_flag_is_accepted_by_the_service_and_by_analyze() {
        let serve = Config::try_parse_from(["prepare", "--backend", "vulkan"]).unwrap();
        assert_eq!(serve.serve.backend.backend, BackendChoice::Vulkan);
        let c = Config::try_parse_from([
            "prepare",
            "analyze",
            "--input",
            "k",
            "--out",
            "o",
            "--backend",
            "cpu",
        ])
        .unwrap();
        let Some(Command::Analyze(a)) = c.command else {
            panic!("not analyze")
        };
        assert_eq!(a.backend.backend, BackendChoice::Cpu);
        let e = Config::try_parse_from(["prepare", "--backend", "opencl"]).unwrap_err();
        assert!(e.to_string().contains("auto, vulkan, cpu"), "{e}");
    }

    #[test]
    fn analyze_and_fetch_take_a_symbol_and_an_interval_like_the_original() {
        let c = Config::try_parse_from([
            "prepare",
            "analyze",
            "BTC",
            "5m",
            "--source",
            "sample",
            "--out",
            "a.msgpack",
        ])
        .unwrap();
        let Some(Command::Analyze(a)) = c.command else {
            panic!("not analyze")
        };
        assert_eq!(a.pair.unwrap().as_str(), "BTCUSDT");
        assert_eq!(a.pair_interval, Some(Interval::M5));
        assert_eq!(a.source.source, CliSource::Sample);
        let c = Config::try_parse_from([
            "prepare",
            "fetch",
            "ETH",
            "1h",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02T00:00:00Z",
            "--source",
            "file:x/y.zip",
            "--out",
            "c.csv",
        ])
        .unwrap();
        let Some(Command::Fetch(f)) = c.command else {
            panic!("not fetch")
        };
        assert_eq!(f.source.source, CliSource::File("x/y.zip".into()));
        assert_eq!(f.start.unwrap().as_millisecond(), 1_704_067_200_000);
        let e = Config::try_parse_from(["prepare", "analyze", "--out", "a"]).unwrap_err();
        assert!(e.to_string().contains("<SYMBOL>"), "{e}");
    }

    #[test]
    fn a_bad_interval_is_refused_with_the_valid_list() {
        let e = Config::try_parse_from([
            "prepare",
            "analyze",
            "--input",
            "k",
            "--interval",
            "7m",
            "--out",
            "o",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("1s, 1m, 3m"), "{e}");
    }
}
