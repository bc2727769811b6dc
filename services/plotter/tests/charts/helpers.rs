//! Synthetic analysis blobs for the chart tests: candles from a price function, and a
//! simple Haar-like multiresolution analysis (trailing moving averages of 2^j candles
//! as smooths, so that Dj = S(j−1) − Sj holds exactly), with anomalies, signals and
//! band statistics derived from it the way the analysis defines them.

use waveplot_protocol::blob::{
    Analysis, Anomalies, BandStats, Blob, Candles, Header, Signal, Signals,
};
use waveplot_protocol::{AnalysisParams, Interval, Source, Symbol};

/// 2022-08-14 00:00 UTC, the original's window start.
const START_MS: i64 = 1_660_435_200_000;

/// How to make a synthetic blob.
pub(crate) struct Synth {
    /// Number of candles.
    pub(crate) n: usize,
    /// Kline interval.
    pub(crate) interval: Interval,
    /// Symbol.
    pub(crate) symbol: &'static str,
    /// Candle indices after which a gap of 20 candles opens.
    pub(crate) gaps: Vec<usize>,
}

impl Synth {
    /// `n` 5-minute BTCUSDT candles without gaps.
    pub(crate) fn new(n: usize) -> Self {
        Self {
            n,
            interval: Interval::M5,
            symbol: "BTCUSDT",
            gaps: Vec::new(),
        }
    }

    /// The blob with close prices `price(i)`, checked with `Blob::check`.
    pub(crate) fn blob(&self, price: impl Fn(usize) -> f64) -> Blob {
        let candles = self.candles(&price);
        let levels = (8).min((self.n as f64).log2().floor() as usize - 1);
        let analysis = analyse(&candles.close, levels);
        let blob = Blob {
            header: self.header(&candles, levels),
            candles,
            analysis,
        };
        blob.check().expect("the synthetic blob is consistent");
        blob
    }

    fn candles(&self, price: &impl Fn(usize) -> f64) -> Candles {
        let step = self.interval.millis();
        let mut open_time_ms = Vec::with_capacity(self.n);
        let mut t = START_MS;
        for i in 0..self.n {
            open_time_ms.push(t);
            t += if self.gaps.contains(&i) {
                21 * step
            } else {
                step
            };
        }
        let close: Vec<f64> = (0..self.n).map(price).collect();
        let open: Vec<f64> = (0..self.n)
            .map(|i| if i == 0 { close[0] } else { close[i - 1] })
            .collect();
        let wick = |i: usize| (close[i] * 0.0004) * (1.0 + (i as f64 * 0.7).sin().abs());
        let volume: Vec<f64> = (0..self.n)
            .map(|i| 500.0 + 400.0 * (i as f64 * 0.05).sin().abs() + (i % 7) as f64 * 30.0)
            .collect();
        Candles {
            close_time_ms: open_time_ms.iter().map(|o| o + step - 1).collect(),
            high: (0..self.n)
                .map(|i| open[i].max(close[i]) + wick(i))
                .collect(),
            low: (0..self.n)
                .map(|i| open[i].min(close[i]) - wick(i))
                .collect(),
            quote_volume: volume.iter().zip(&close).map(|(v, c)| v * c).collect(),
            trades: (0..self.n as u64).map(|i| 1_000 + i % 50).collect(),
            taker_buy_base: volume.iter().map(|v| v / 2.0).collect(),
            taker_buy_quote: volume
                .iter()
                .zip(&close)
                .map(|(v, c)| v * c / 2.0)
                .collect(),
            open_time_ms,
            open,
            close,
            volume,
        }
    }

    fn header(&self, c: &Candles, levels: usize) -> Header {
        Header {
            symbol: Symbol::parse(self.symbol).unwrap(),
            interval: self.interval,
            source: Source::Sample,
            source_label: "synthetic test candles".into(),
            first_open_ms: c.open_time_ms[0],
            last_open_ms: *c.open_time_ms.last().unwrap(),
            last_close_ms: *c.close_time_ms.last().unwrap(),
            candles: self.n as u32,
            missing_candles: 20 * self.gaps.len() as u32,
            params: AnalysisParams::default(),
            levels_requested: 8,
            levels_used: levels as u32,
            level_note: (levels < 8).then(|| format!("{} candles allow {levels} levels", self.n)),
            backend: waveplot_protocol::blob::Backend::Cpu,
            device: "test reference".into(),
            created_ms: 1_700_000_000_000,
            load_ms: 1.0,
            analysis_ms: 2.0,
            summary: None,
        }
    }
}

/// Smooths (trailing means of 2^j candles), details, anomalies, signals and bands.
fn analyse(close: &[f64], levels: usize) -> Analysis {
    let mut smooths: Vec<Vec<f64>> = Vec::new();
    let mut details = Vec::new();
    for j in 1..=levels {
        let s = trailing_mean(close, 1 << j);
        let prev = smooths.last().map_or(close, |p| p.as_slice());
        details.push(
            prev.iter()
                .zip(&s)
                .map(|(p, q)| p - q)
                .collect::<Vec<f64>>(),
        );
        smooths.push(s);
    }
    let anomalies = anomalies(details.first().map_or(&[][..], |d| d));
    let signals = signals(
        close,
        smooths.get(levels.clamp(1, 6) - 1).map_or(close, |s| s),
        levels.min(6),
    );
    let bands = details
        .iter()
        .enumerate()
        .map(|(j, d)| band(j + 1, d))
        .collect();
    Analysis {
        coeffs: Vec::new(),
        details,
        smooths,
        anomalies,
        signals,
        bands,
    }
}

fn trailing_mean(x: &[f64], w: usize) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let from = (i + 1).saturating_sub(w);
            x[from..=i].iter().sum::<f64>() / (i + 1 - from) as f64
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        0.0
    } else if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    }
}

fn anomalies(d1: &[f64]) -> Anomalies {
    let abs: Vec<f64> = d1.iter().map(|d| d.abs()).collect();
    let med = median(&abs);
    let mad = median(&abs.iter().map(|a| (a - med).abs()).collect::<Vec<_>>());
    let threshold = med + 6.0 * mad;
    let indices: Vec<u32> = (0..d1.len())
        .filter(|&i| abs[i] > threshold)
        .map(|i| i as u32)
        .collect();
    let values = indices.iter().map(|&i| d1[i as usize]).collect();
    Anomalies {
        k: 6.0,
        median: med,
        mad,
        threshold,
        indices,
        values,
    }
}

fn signals(close: &[f64], trend: &[f64], level: usize) -> Signals {
    let dev: Vec<f64> = close.iter().zip(trend).map(|(c, t)| c - t).collect();
    let mean = dev.iter().sum::<f64>() / dev.len() as f64;
    let std = (dev.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / dev.len() as f64).sqrt();
    let buffer = 0.8 * std;
    let signal: Vec<Signal> = dev
        .iter()
        .map(|&d| {
            if d < -buffer {
                Signal::Buy
            } else if d > buffer {
                Signal::Sell
            } else {
                Signal::Hold
            }
        })
        .collect();
    let count = |s: Signal| signal.iter().filter(|&&x| x == s).count() as u32;
    Signals {
        trend_level: level as u32,
        deviation_std: std,
        buffer,
        buy: count(Signal::Buy),
        sell: count(Signal::Sell),
        hold: count(Signal::Hold),
        signal,
    }
}

fn band(level: usize, d: &[f64]) -> BandStats {
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let sigma = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let maxima: Vec<usize> = (1..d.len() - 1)
        .filter(|&i| d[i] > d[i - 1] && d[i] >= d[i + 1])
        .collect();
    let minima: Vec<usize> = (1..d.len() - 1)
        .filter(|&i| d[i] < d[i - 1] && d[i] <= d[i + 1])
        .collect();
    let period =
        |p: &[usize]| (p.len() >= 2).then(|| (p[p.len() - 1] - p[0]) as f64 / (p.len() - 1) as f64);
    let avg = |p: &[usize]| p.iter().map(|&i| d[i]).sum::<f64>() / p.len() as f64;
    let (lo, hi) = d
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    BandStats {
        level: level as u32,
        period_min_bars: f64::from(1u32 << level),
        period_max_bars: f64::from(2u32 << level),
        sigma,
        mean_abs_change: d.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (n - 1.0),
        range: hi - lo,
        zero_crossings: d.windows(2).filter(|w| w[0] * w[1] < 0.0).count() as u32,
        peak_period_bars: period(&maxima),
        trough_period_bars: period(&minima),
        peak_period_s: period(&maxima).map(|p| p * 300.0),
        trough_period_s: period(&minima).map(|p| p * 300.0),
        amplitude: (!maxima.is_empty() && !minima.is_empty())
            .then(|| (avg(&maxima) - avg(&minima)) / 2.0),
    }
}

/// A BTC-like random walk around 24 000 with intraday swings, deterministic.
pub(crate) fn btc_like(i: usize) -> f64 {
    let x = i as f64;
    let noise = ((x * 12.9898).sin() * 43_758.545).fract() - 0.5;
    24_000.0 + 400.0 * (x / 140.0).sin() + 120.0 * (x / 23.0).sin() + 25.0 * noise - 0.4 * x
}
