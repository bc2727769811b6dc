//! `waveplot-bench`: drives a waveplot deployment through the gateway's HTTP API and
//! reports end-to-end latency (cold and warm), the time of each stage, throughput under
//! concurrent clients and the services' peak memory; on a stack of its own also the
//! CPU every process spends per render, against drawing the same charts in one
//! process (see [`cpu`]), and the time from a closing kline message to the last chart
//! on a live page (see [`live`]). Without `--gateway` it starts the
//! whole stack itself on loopback from the release binaries next to it.
//!
//! With `--faults` (or `--faults-only`) it also runs the fault suite on a stack of its
//! own: a load of renders while nats-server restarts, S3 stops, a plotter is killed,
//! garbage and unknown blob versions arrive and Binance rate-limits; it counts every
//! request as complete, failed with a reason, unexplained or hung, checks that the
//! services recovered without a restart, and fails unless nothing hung or went
//! unexplained and every check held (see [`faults`]).
//!
//! ```text
//! cargo build --release --workspace && target/release/waveplot-bench --quick --json bench.json
//! target/release/waveplot-bench --faults-only --quick
//! ```

mod client;
mod cpu;
mod faults;
mod live;
mod report;
mod stack;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::Parser;
use serde_json::{Value, json};

use crate::report::{Latency, Load, Report, quantile};

/// Benchmark a waveplot deployment end to end.
#[derive(Debug, Parser)]
#[command(name = "waveplot-bench", version)]
struct Args {
    /// Drive this gateway (e.g. http://board:8080) instead of starting a stack. Its
    /// prepare needs the synthetic candle file in its CANDLE_DIR for the 1m scenarios.
    #[arg(long)]
    gateway: Option<String>,
    /// Where the service binaries are (default: next to this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// A reduced set that runs in under a minute.
    #[arg(long)]
    quick: bool,
    /// Also measure the 1 000 000-candle window (the synthetic file then holds
    /// 1 050 000 candles; a `--gateway`'s prepare needs that file too).
    #[arg(long)]
    large: bool,
    /// Also write the report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Compare two builds: run the suite with the binaries of each directory and print
    /// the ratios (second / first).
    #[arg(long, num_args = 2, value_names = ["DIR_A", "DIR_B"])]
    compare: Option<Vec<PathBuf>>,
    /// After the measurements, run the fault suite on a stack of its own: a load while
    /// nats-server restarts, S3 stops, a plotter is killed, garbage and unknown blob
    /// versions arrive and Binance rate-limits. Fails if a request hung or a service
    /// did not recover.
    #[arg(long, conflicts_with_all = ["gateway", "compare"])]
    faults: bool,
    /// Run only the fault suite (implies --faults).
    #[arg(long, conflicts_with_all = ["gateway", "compare"])]
    faults_only: bool,
    /// The S3 server of the stack the measurements start (the fault suite's own stack
    /// always runs s3s-fs, which it stops and starts again).
    #[arg(long, value_enum, default_value = "s3s-fs", conflicts_with = "gateway")]
    s3: stack::S3,
    /// Measure only the CPU per render (and its ratio to drawing in one process).
    #[arg(long, conflicts_with_all = ["gateway", "compare", "faults", "faults_only"])]
    cpu_only: bool,
    /// Measure only the live scenario: from a closing kline message to the last chart
    /// on a live page.
    #[arg(long, conflicts_with_all = ["gateway", "compare", "faults", "faults_only", "cpu_only"])]
    live_only: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(dirs) = &args.compare {
        let a = suite_with_stack(&dirs[0], &args)?;
        let b = suite_with_stack(&dirs[1], &args)?;
        print_comparison(&a, &b);
        return write_json(&args, &json!({ "a": a, "b": b }));
    }
    let bin_dir = args
        .bin_dir
        .clone()
        .unwrap_or_else(waveplot_testkit::bin_dir);
    if args.cpu_only {
        let stack = stack::Stack::start(&bin_dir, 60, stack::SYNTHETIC_CANDLES, args.s3)?;
        let cpu = cpu_per_render(&stack, &bin_dir, args.quick)?;
        print!("{}", cpu.table());
        return write_json(&args, &json!({ "cpu": cpu }));
    }
    if args.live_only {
        let stack = stack::Stack::start(&bin_dir, 60, stack::SYNTHETIC_CANDLES, args.s3)?;
        let live = live_latency(&stack, args.quick)?;
        print!("{}", live.table());
        return write_json(&args, &json!({ "live": live }));
    }
    let mut value = if args.faults_only {
        json!({})
    } else {
        let report = match &args.gateway {
            Some(url) => suite(url, args.quick, args.large, false, Vec::new, Vec::new)?,
            None => suite_with_stack(&bin_dir, &args)?,
        };
        print!("{}", report.table());
        serde_json::to_value(&report)?
    };
    if !(args.faults || args.faults_only) {
        return write_json(&args, &value);
    }
    let faults = faults::run(&bin_dir, args.quick)?;
    print!("{}", faults.table());
    value["faults"] = serde_json::to_value(&faults)?;
    write_json(&args, &value)?;
    anyhow::ensure!(
        faults.passed(),
        "the fault suite failed: {} hung, {} unexplained, recovered: {}",
        faults.hung,
        faults.unexplained,
        faults.recovered
    );
    Ok(())
}

fn write_json(args: &Args, value: &Value) -> Result<()> {
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(value)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

fn suite_with_stack(bin_dir: &std::path::Path, args: &Args) -> Result<Report> {
    let (quick, large) = (args.quick, args.large);
    let candles = if large {
        stack::SYNTHETIC_CANDLES_LARGE
    } else {
        stack::SYNTHETIC_CANDLES
    };
    let stack = stack::Stack::start(bin_dir, 60, candles, args.s3)?;
    let url = stack.system.http();
    let mut report = suite(
        &url,
        quick,
        large,
        true,
        || stack.peak_rss_mib(),
        || stack.publish_acks(),
    )?;
    report.cpu = Some(cpu_per_render(&stack, bin_dir, quick)?);
    report.live = Some(live_latency(&stack, quick)?);
    Ok(report)
}

/// [`live::measure`] on the page's default 1m window (3 days, 4 320 candles).
fn live_latency(stack: &stack::Stack, quick: bool) -> Result<live::LiveLatency> {
    live::measure(stack, 4320, if quick { 5 } else { 20 })
}

/// [`cpu::measure`] for the first scenario, the BTC 5m sample.
fn cpu_per_render(
    stack: &stack::Stack,
    bin_dir: &std::path::Path,
    quick: bool,
) -> Result<cpu::CpuPerRender> {
    let (name, _, body, _, _) = scenarios(quick, false, false).swap_remove(0);
    let (renders, runs) = if quick { (10, 5) } else { (40, 20) };
    cpu::measure(stack, bin_dir, (name, &body), (renders, runs), unique)
}

/// The windows measured: the original's BTC 5m sample, 4 320 and 100 000 one-minute
/// candles from a file (and with `large` 1 000 000, then the largest PNG and SVG
/// requests the limits accept), and with `fake_binance` (only a
/// stack of the bench's own has one) 4 320 from Binance. Only the first of the Binance
/// cold runs downloads: the others find the candles in prepare's candle cache and
/// analyse them afresh.
fn scenarios(
    quick: bool,
    large: bool,
    fake_binance: bool,
) -> Vec<(&'static str, usize, Value, usize, usize)> {
    let file = format!("file:{}", stack::SYNTHETIC);
    let (c1, w1, c2, w2, c3, w3) = if quick {
        (3, 5, 2, 3, 1, 2)
    } else {
        (20, 20, 10, 10, 3, 3)
    };
    let mut all = vec![
        (
            "BTCUSDT 5m sample",
            864,
            json!({"symbol": "BTCUSDT", "interval": "5m", "source": "sample"}),
            c1,
            w1,
        ),
        (
            "BTCUSDT 1m synthetic",
            4320,
            json!({"symbol": "BTCUSDT", "interval": "1m", "source": file, "window": 4320}),
            c2,
            w2,
        ),
        (
            "BTCUSDT 1m synthetic",
            100_000,
            json!({"symbol": "BTCUSDT", "interval": "1m", "source": file, "window": 100_000}),
            c3,
            w3,
        ),
    ];
    if large {
        all.push((
            "BTCUSDT 1m synthetic",
            1_000_000,
            json!({"symbol": "BTCUSDT", "interval": "1m", "source": file, "window": 1_000_000}),
            1,
            1,
        ));
        // The largest requests the limits accept, as PNG and as SVG: their peaks are
        // the whole run's.
        let largest = |window: u32, format: &str| {
            json!({"symbol": "BTCUSDT", "interval": "1m", "source": file, "window": window,
                "levels": 20, "width": 4800, "height": 3600, "format": format})
        };
        all.push((
            "largest PNG (20 levels, 4800×3600)",
            1_000_000,
            largest(1_000_000, "png"),
            1,
            1,
        ));
        all.push((
            "largest SVG (20 levels, 4800×3600)",
            20_000,
            largest(20_000, "svg"),
            1,
            1,
        ));
    }
    if fake_binance {
        let binance =
            json!({"symbol": "BTCUSDT", "interval": "1m", "source": "binance", "window": 4320});
        all.insert(2, ("BTCUSDT 1m Binance (fake)", 4320, binance, c2, w2));
    }
    all
}

fn suite(
    url: &str,
    quick: bool,
    large: bool,
    fake_binance: bool,
    rss: impl Fn() -> Vec<(String, f64)>,
    acks: impl Fn() -> Vec<(String, report::PublishAcks)>,
) -> Result<Report> {
    let http = client::client()?;
    let mut latency = Vec::new();
    let mut salt = 0u32;
    let (mut rss_small, mut rss_default_levels) = (Vec::new(), Vec::new());
    for (name, candles, body, cold_n, warm_n) in scenarios(quick, large, fake_binance) {
        // The windows run smallest first, then the largest requests with their many
        // levels, so the peaks so far are those of the windows measured before.
        if candles > 4_320 && rss_small.is_empty() {
            rss_small = rss();
        }
        if body.get("levels").is_some() && rss_default_levels.is_empty() {
            rss_default_levels = rss();
        }
        let mut cold = Vec::new();
        for _ in 0..cold_n {
            salt += 1;
            cold.push(client::render(&http, url, &unique(&body, salt))?);
        }
        latency.push(summarise(name, candles, "cold", &cold));
        client::render(&http, url, &body)?;
        let warm: Vec<client::Outcome> = (0..warm_n)
            .map(|_| client::render(&http, url, &body))
            .collect::<Result<_>>()?;
        latency.push(summarise(name, candles, "warm", &warm));
    }
    let levels: &[usize] = if quick { &[1, 4, 16] } else { &[1, 4, 16, 64] };
    let load = levels
        .iter()
        .map(|&c| load(url, c, if quick { 2 } else { 4 }, &mut salt))
        .collect::<Result<Vec<_>>>()?;
    Ok(Report {
        cold_p50_ms: latency[0].p50_ms,
        warm_p50_ms: latency[1].p50_ms,
        latency,
        load,
        peak_rss_mib_small: rss_small,
        peak_rss_mib_default_levels: rss_default_levels,
        peak_rss_mib: rss(),
        publish_acks: acks(),
        cpu: None,
        live: None,
    })
}

/// `body` with an anomaly factor no earlier request used, so nothing is cached for it.
fn unique(body: &Value, salt: u32) -> Value {
    let mut b = body.clone();
    b["anomaly_k"] = json!(6.0 + f64::from(salt) * 1e-6);
    b
}

fn summarise(name: &str, candles: usize, cache: &'static str, runs: &[client::Outcome]) -> Latency {
    let totals: Vec<f64> = runs.iter().map(|o| o.total_ms).collect();
    let stage = |f: &dyn Fn(&Value) -> Option<f64>| {
        quantile(
            &runs.iter().filter_map(|o| f(&o.status)).collect::<Vec<_>>(),
            0.5,
        )
    };
    let stages_ms = if cache == "cold" {
        vec![
            (
                "load".to_owned(),
                stage(&|s| s["prepared"]["timings_ms"]["load_ms"].as_f64()),
            ),
            (
                "analysis".to_owned(),
                stage(&|s| s["prepared"]["timings_ms"]["analysis_ms"].as_f64()),
            ),
            (
                "blob store".to_owned(),
                stage(&|s| s["prepared"]["timings_ms"]["store_ms"].as_f64()),
            ),
            (
                "scenes".to_owned(),
                stage(&|s| s["prepared"]["timings_ms"]["scenes_ms"].as_f64()),
            ),
            (
                "prepare".to_owned(),
                stage(&|s| s["prepared"]["timings_ms"]["total_ms"].as_f64()),
            ),
            (
                "slowest chart".to_owned(),
                stage(&|s| {
                    s["plots"]
                        .as_object()?
                        .values()
                        .filter_map(|p| p["render_ms"].as_f64())
                        .reduce(f64::max)
                }),
            ),
        ]
    } else {
        Vec::new()
    };
    Latency {
        name: name.to_owned(),
        candles,
        cache,
        n: runs.len(),
        p50_ms: quantile(&totals, 0.5),
        p95_ms: quantile(&totals, 0.95),
        max_ms: quantile(&totals, 1.0),
        stages_ms,
    }
}

/// `clients` threads each sending `per_client` cold renders over mixed windows.
fn load(url: &str, clients: usize, per_client: usize, salt: &mut u32) -> Result<Load> {
    let bodies = [
        json!({"symbol": "BTCUSDT", "interval": "5m", "source": "sample"}),
        json!({"symbol": "ETHUSDT", "interval": "5m", "source": "sample"}),
        json!({"symbol": "BTCUSDT", "interval": "1h", "source": "sample"}),
        json!({"symbol": "BTCUSDT", "interval": "1m", "source": format!("file:{}", stack::SYNTHETIC), "window": 4320}),
    ];
    let started = Instant::now();
    let base = *salt;
    *salt += u32::try_from(clients * per_client).unwrap_or(u32::MAX);
    let results: Vec<Result<client::Outcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let bodies = &bodies;
                scope.spawn(move || {
                    let http = client::client()?;
                    (0..per_client)
                        .map(|i| {
                            let n = c * per_client + i;
                            let salt = base + u32::try_from(n).unwrap_or(0) + 1;
                            client::render(&http, url, &unique(&bodies[n % bodies.len()], salt))
                        })
                        .collect::<Vec<_>>()
                        .into_iter()
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(Ok(outcomes)) => outcomes.into_iter().map(Ok).collect::<Vec<_>>(),
                Ok(Err(e)) => vec![Err(e)],
                Err(_) => vec![Err(anyhow::anyhow!("client thread panicked"))],
            })
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    let ok: Vec<&client::Outcome> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let complete: Vec<f64> = ok
        .iter()
        .filter(|o| o.state == "complete")
        .map(|o| o.total_ms)
        .collect();
    Ok(Load {
        clients,
        sent: clients * per_client,
        complete: complete.len(),
        failed: ok.iter().filter(|o| o.state != "complete").count(),
        errors: results.iter().filter(|r| r.is_err()).count(),
        retried: ok.iter().filter(|o| o.retried > 0).count(),
        throughput_rps: complete.len() as f64 / wall,
        p50_ms: quantile(&complete, 0.5),
        p95_ms: quantile(&complete, 0.95),
    })
}

fn print_comparison(a: &Report, b: &Report) {
    println!("scenario                    cache     A p50     B p50   B/A");
    for (x, y) in a.latency.iter().zip(&b.latency) {
        println!(
            "{:<27} {:<5} {:>9.1} {:>9.1} {:>5.2}",
            x.name,
            x.cache,
            x.p50_ms,
            y.p50_ms,
            y.p50_ms / x.p50_ms
        );
    }
    for (x, y) in a.load.iter().zip(&b.load) {
        println!(
            "{:>3} clients throughput     {:>9.1} {:>9.1} {:>5.2}",
            x.clients,
            x.throughput_rps,
            y.throughput_rps,
            y.throughput_rps / x.throughput_rps
        );
    }
    if let (Some(x), Some(y)) = (&a.cpu, &b.cpu) {
        println!(
            "CPU per render, ms          {:>15.1} {:>9.1} {:>5.2}",
            x.total_ms,
            y.total_ms,
            y.total_ms / x.total_ms
        );
    }
}
