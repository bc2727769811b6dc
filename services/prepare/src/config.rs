//! The prepare service's configuration: flags with environment twins, read once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use waveplot_protocol::{Interval, MraKind, Symbol};
use waveplot_service::{BusArgs, LogArgs, StoreArgs};

use crate::backend::BackendArgs;

/// waveplot prepare: loads candles, runs the wavelet analysis and stores the blob the
/// plotters draw from.
///
/// Without a subcommand it serves render requests from the bus; `analyze` runs one
/// analysis of a candle file on the command line.
#[derive(Debug, Parser)]
#[command(name = "prepare", version, args_conflicts_with_subcommands = true)]
pub struct Config {
    /// A one-shot command instead of the service.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings of the service.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Log settings.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Settings of the bus service.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Check the health endpoint of a running instance and exit 0 if it is live
    /// (for container healthchecks; the images have no curl).
    #[arg(long)]
    pub healthcheck: bool,
    /// Analyses run at the same time (default: the CPUs available).
    #[arg(long, env = "PREPARE_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// How long in-flight work may take to finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub grace: std::time::Duration,
    /// Address of the health and metrics endpoint (`/livez`, `/readyz`, `/metrics`).
    #[arg(long, env = "HEALTH_ADDR", default_value = "0.0.0.0:9101")]
    pub health_addr: SocketAddr,
    /// Directory of candle files that requests may name as `file:NAME`.
    #[arg(long, env = "CANDLE_DIR")]
    pub candle_dir: Option<PathBuf>,
    /// Binance REST base URL.
    #[arg(
        long,
        env = "BINANCE_URL",
        default_value = "https://data-api.binance.vision"
    )]
    pub binance_url: String,
    /// Compute backend.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Message bus settings.
    #[command(flatten)]
    pub bus: BusArgs,
    /// Object store settings.
    #[command(flatten)]
    pub store: StoreArgs,
}

impl ServeArgs {
    /// The service settings these flags describe, with the backend already chosen.
    pub fn settings(&self, backend: crate::backend::Backend) -> crate::service::Settings {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        crate::service::Settings {
            candle_dir: self.candle_dir.clone(),
            concurrency: self.concurrency.unwrap_or(cpus),
            grace: self.grace,
            backend: std::sync::Arc::new(backend),
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse a klines file and write the blob (and optionally a JSON export).
    Analyze(AnalyzeArgs),
}

/// Arguments of `prepare analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Klines CSV: Binance's 12 columns, with or without a header, open times in ms or µs.
    #[arg(long)]
    pub input: PathBuf,
    /// Kline interval of the file; taken from a Binance-style file name
    /// (`BTCUSDT-5m-...csv`) when left out.
    #[arg(long)]
    pub interval: Option<Interval>,
    /// Trading pair of the file; taken from the file name when left out.
    #[arg(long)]
    pub symbol: Option<Symbol>,
    /// Number of candles to analyse, counted back from the last; default: the
    /// interval's look-back (864 for 5m).
    #[arg(long)]
    pub window: Option<u32>,
    /// Wavelet (haar, db1-db20, sym2-sym20, coif1-coif5).
    #[arg(long, default_value = "haar")]
    pub wavelet: String,
    /// Decomposition levels (capped at what the window allows; the cap is reported).
    #[arg(long, default_value_t = 8)]
    pub levels: u32,
    /// Multiresolution analysis kind.
    #[arg(long, default_value = "modwt")]
    pub mra: MraKind,
    /// Signal extension mode of the DWT (PyWavelets' names).
    #[arg(long, default_value = "symmetric")]
    pub mode: String,
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
    use clap::CommandFactory;

    use super::*;
    use crate::backend::{BackendChoice, DEFAULT_GPU_MIN_CANDLES};

    #[test]
    fn the_command_line_is_well_formed() {
        Config::command().debug_assert();
    }

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
