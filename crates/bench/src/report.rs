//! Numbers out: percentiles, the printed table and the JSON document.

use serde::Serialize;

/// Latency of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Scenario name.
    pub name: String,
    /// Candles in the window.
    pub candles: usize,
    /// `cold` (nothing cached) or `warm` (everything cached).
    pub cache: &'static str,
    /// Renders measured.
    pub n: usize,
    /// Median, 95th percentile and maximum, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
    /// Median stage times from the events, ms (cold runs only).
    pub stages_ms: Vec<(String, f64)>,
}

/// Throughput at one level of concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    /// Concurrent clients.
    pub clients: usize,
    /// Renders sent.
    pub sent: usize,
    /// Renders complete.
    pub complete: usize,
    /// Renders that ended partial or failed, with a reason.
    pub failed: usize,
    /// Requests refused or lost (HTTP errors, broken streams).
    pub errors: usize,
    /// Renders the gateway first refused for now (503 with `Retry-After`: it ran as
    /// many as it may) and took when they were sent again.
    pub retried: usize,
    /// Complete renders per second.
    pub throughput_rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Cold median of the BTC 5m sample window, ms.
    pub cold_p50_ms: f64,
    /// Warm median of the BTC 5m sample window, ms.
    pub warm_p50_ms: f64,
    /// Every latency scenario.
    pub latency: Vec<Latency>,
    /// Every concurrency level.
    pub load: Vec<Load>,
    /// Peak RSS per service over the windows of at most 4 320 candles (the memory
    /// targets' size), MiB; only when the bench started the stack.
    pub peak_rss_mib_small: Vec<(String, f64)>,
    /// Peak RSS per service over every window at the default levels (with `--large`,
    /// up to the 1 000 000-candle window, before the largest requests), MiB; only with
    /// `--large` and when the bench started the stack.
    pub peak_rss_mib_default_levels: Vec<(String, f64)>,
    /// Peak RSS per service over the whole run (100 000 candles, 64 clients), MiB.
    pub peak_rss_mib: Vec<(String, f64)>,
    /// Per service, how long its events took to be acknowledged by the server over
    /// the whole run; only when the bench started the stack.
    pub publish_acks: Vec<(String, PublishAcks)>,
    /// CPU per cold render of every process, against drawing the same charts in one
    /// process; only when the bench started the stack.
    pub cpu: Option<crate::cpu::CpuPerRender>,
    /// From a closing kline message to the last chart on a live page; only when the
    /// bench started the stack.
    pub live: Option<crate::live::LiveLatency>,
}

/// How long publishing an event took until the server acknowledged it, at one service.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PublishAcks {
    /// Events published.
    pub count: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

impl PublishAcks {
    /// Reads the summary from Prometheus text; `None` without one.
    pub fn from_metrics(text: &str) -> Option<Self> {
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
        };
        let count = value("waveplot_publish_ack_seconds_count")?;
        Some(Self {
            count: count as u64,
            p50_ms: value("waveplot_publish_ack_seconds{quantile=\"0.5\"}")? * 1e3,
            p99_ms: value("waveplot_publish_ack_seconds{quantile=\"0.99\"}")? * 1e3,
        })
    }
}

/// The q-quantile (nearest rank) of `values`.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl Report {
    /// The report as a table for a terminal.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "scenario                    cache   n     p50 ms    p95 ms    max ms   stages (p50 ms)\n",
        );
        for l in &self.latency {
            let stages: Vec<String> = l
                .stages_ms
                .iter()
                .map(|(k, v)| format!("{k} {v:.1}"))
                .collect();
            out += &format!(
                "{:<27} {:<5} {:>3} {:>9.1} {:>9.1} {:>9.1}   {}\n",
                l.name,
                l.cache,
                l.n,
                l.p50_ms,
                l.p95_ms,
                l.max_ms,
                stages.join(", ")
            );
        }
        out += "\nclients   sent complete failed errors retried   renders/s    p50 ms    p95 ms\n";
        for l in &self.load {
            out += &format!(
                "{:>7} {:>6} {:>8} {:>6} {:>6} {:>7} {:>11.1} {:>9.1} {:>9.1}\n",
                l.clients,
                l.sent,
                l.complete,
                l.failed,
                l.errors,
                l.retried,
                l.throughput_rps,
                l.p50_ms,
                l.p95_ms
            );
        }
        for (title, rss) in [
            ("up to 4 320 candles", &self.peak_rss_mib_small),
            (
                "up to 1 000 000 candles, default levels",
                &self.peak_rss_mib_default_levels,
            ),
            ("whole run", &self.peak_rss_mib),
        ] {
            if !rss.is_empty() {
                let rss: Vec<String> = rss.iter().map(|(k, v)| format!("{k} {v:.1}")).collect();
                out += &format!("\npeak RSS, {title} (MiB): {}\n", rss.join(", "));
            }
        }
        if !self.publish_acks.is_empty() {
            let acks: Vec<String> = self
                .publish_acks
                .iter()
                .map(|(k, a)| format!("{k} {:.2}/{:.2} (n {})", a.p50_ms, a.p99_ms, a.count))
                .collect();
            out += &format!("publish acknowledged, p50/p99 ms: {}\n", acks.join(", "));
        }
        if let Some(cpu) = &self.cpu {
            out += &cpu.table();
        }
        if let Some(live) = &self.live {
            out += &live.table();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_acknowledgements_are_read_from_the_metrics_summary() {
        let text = "# TYPE waveplot_publish_ack_seconds summary\n\
            waveplot_publish_ack_seconds{quantile=\"0\"} 0.0001\n\
            waveplot_publish_ack_seconds{quantile=\"0.5\"} 0.0004\n\
            waveplot_publish_ack_seconds{quantile=\"0.99\"} 0.002\n\
            waveplot_publish_ack_seconds_sum 0.01\n\
            waveplot_publish_ack_seconds_count 12\n";
        let acks = PublishAcks::from_metrics(text).unwrap();
        assert_eq!(acks.count, 12);
        assert!((acks.p50_ms - 0.4).abs() < 1e-9, "{acks:?}");
        assert!((acks.p99_ms - 2.0).abs() < 1e-9, "{acks:?}");
        assert_eq!(PublishAcks::from_metrics("other_metric 1\n"), None);
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.95), 5.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
