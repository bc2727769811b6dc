//! What every chart needs to know about the analysed window, worked out once: candle
//! times on the time axis, where the data has gaps, how to write its prices, and the
//! names of its assets and interval for labels.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use waveplot_protocol::TimeZone;
use waveplot_protocol::blob::BlobView;

use super::axis::{self, TimeAxis};
use super::format;
use super::theme::Theme;

/// Quote assets a symbol may end with, longest first, to name units ("Price (USDT)").
const QUOTES: [&str; 15] = [
    "FDUSD", "USDT", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "JPY",
    "GBP", "AUD", "DAI",
];

/// How many tables of pixel columns a window keeps: a panel with a secondary axis
/// has two (plotters maps that axis one pixel wider), and stacked panels share them.
const COLUMN_TABLES: usize = 2;

/// Room for one time label, base pixels (`Aug 14` is about 40 px wide).
const LABEL_PX: f64 = 70.0;

/// The window of candles a chart draws, with derived layout facts.
pub(crate) struct Window<'a> {
    /// The blob.
    pub(crate) blob: BlobView<'a>,
    /// Centre of each candle, UTC seconds.
    pub(crate) t: Vec<f64>,
    /// Runs of candles without a gap in time; lines break between them.
    pub(crate) runs: Vec<Range<usize>>,
    /// The shared time axis.
    pub(crate) axis: TimeAxis,
    /// Seconds per candle.
    pub(crate) interval_s: f64,
    /// Decimals for prices.
    pub(crate) price_decimals: usize,
    /// Base asset (`BTC`) and quote asset (`USDT`).
    pub(crate) base: String,
    /// Quote asset, the unit of prices and details.
    pub(crate) quote: String,
    /// Sizes.
    pub(crate) theme: Theme,
    /// Width of the plotting area of a full-width panel, pixels.
    pub(crate) plot_width: f64,
    /// The time zone times are written in.
    pub(crate) zone: TimeZone,
    /// Whether the chart is drawn on pixels (PNG), where series are thinned to what
    /// the pixels show, rather than as vectors (SVG), which keep every point.
    pub(crate) raster: bool,
    /// The pixel columns of the candles on the plotting areas last asked for
    /// ([`Window::columns`]), at most [`COLUMN_TABLES`].
    columns: RefCell<Vec<(Columns, Rc<[i32]>)>>,
}

/// What places the candles in pixel columns: the columns of the first and last time,
/// and those times (as bits, to compare exactly).
#[derive(PartialEq)]
struct Columns {
    pixels: Range<i32>,
    times: (u64, u64),
}

impl<'a> Window<'a> {
    /// The window of `blob` with plotting areas about `plot_width` pixels wide, times
    /// written in `zone`, drawn on pixels if `raster`.
    pub(crate) fn new(
        blob: BlobView<'a>,
        theme: Theme,
        plot_width: f64,
        zone: &TimeZone,
        raster: bool,
    ) -> Self {
        let interval_s = blob.header.interval.seconds() as f64;
        let c = blob.candles;
        let t: Vec<f64> = c
            .open_time_ms
            .iter()
            .map(|&ms| ms as f64 / 1000.0 + interval_s / 2.0)
            .collect();
        let start = c.open_time_ms.first().map_or(0.0, |&ms| ms as f64 / 1000.0);
        let end = t.last().map_or(start, |&x| x + interval_s / 2.0);
        let label_px = f64::from(theme.px(LABEL_PX));
        let axis = TimeAxis::new(start, end, (plot_width / label_px) as usize, zone.rules());
        let (lo, hi) = extent(&[c.low, c.high, c.close]);
        let (base, quote) = split_symbol(blob.header.symbol.as_str());
        Self {
            runs: runs(&t, interval_s),
            t,
            axis,
            interval_s,
            price_decimals: format::price_decimals(lo, hi),
            base,
            quote,
            theme,
            plot_width,
            zone: zone.clone(),
            raster,
            blob,
            columns: RefCell::new(Vec::new()),
        }
    }

    /// The pixel column of every candle on a plotting area spanning `times`, where
    /// `column` places a time. Every series of a panel shares it, as do the stacked
    /// panels, which line up; so it is worked out once per chart, not per series (the
    /// mapping was most of a thinned series' cost). The [`TimeAxis`] maps linearly from
    /// the first pixel to the last, so those two and `times` say which columns these
    /// are; the pixels alone would not: plotters maps a secondary axis one pixel wider.
    pub(crate) fn columns(&self, times: Range<f64>, column: impl Fn(f64) -> i32) -> Rc<[i32]> {
        let key = Columns {
            pixels: column(times.start)..column(times.end),
            times: (times.start.to_bits(), times.end.to_bits()),
        };
        let mut tables = self.columns.borrow_mut();
        if let Some((_, columns)) = tables.iter().find(|(k, _)| *k == key) {
            return Rc::clone(columns);
        }
        let columns: Rc<[i32]> = self.t.iter().map(|&t| column(t)).collect();
        if tables.len() == COLUMN_TABLES {
            tables.remove(0);
        }
        tables.push((key, Rc::clone(&columns)));
        columns
    }

    /// Number of candles.
    pub(crate) fn len(&self) -> usize {
        self.t.len()
    }

    /// A price, with the window's decimals.
    pub(crate) fn price(&self, v: f64) -> String {
        format::num(v, self.price_decimals)
    }

    /// A time axis for a plotting area `width` pixels wide, with ticks far enough apart
    /// for their labels.
    pub(crate) fn axis_for(&self, width: f64) -> TimeAxis {
        let r = plotters::coord::ranged1d::Ranged::range(&self.axis);
        let label_px = f64::from(self.theme.px(LABEL_PX));
        TimeAxis::new(
            r.start,
            r.end,
            (width / label_px) as usize,
            self.zone.rules(),
        )
    }

    /// `2022-08-14 00:00`, a time in milliseconds written in the window's time zone.
    pub(crate) fn datetime_ms(&self, ms: i64) -> String {
        axis::civil(self.zone.rules(), ms.div_euclid(1000) as f64)
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// `time (UTC)`, `time (Europe/Berlin)`: the caption of a time axis or column.
    pub(crate) fn time_caption(&self) -> String {
        format!("time ({})", self.zone)
    }

    /// Pixels per candle in a full-width panel.
    pub(crate) fn px_per_candle(&self) -> f64 {
        self.interval_s / self.axis.secs_per_px(self.plot_width)
    }

    /// The period band of detail level `j` (1-based) in wall-clock units.
    pub(crate) fn band(&self, j: usize) -> String {
        let (lo, hi) = self.band_bars(j);
        format::band(lo * self.interval_s, hi * self.interval_s)
    }

    /// Shortest and longest period of level `j` in bars, from the blob's band
    /// statistics when present, else 2^j and 2^(j+1).
    pub(crate) fn band_bars(&self, j: usize) -> (f64, f64) {
        match self.blob.analysis.bands.get(j.wrapping_sub(1)) {
            Some(b) if b.period_max_bars > 0.0 => (b.period_min_bars, b.period_max_bars),
            _ => (2f64.powi(j as i32), 2f64.powi(j as i32 + 1)),
        }
    }
}

/// Splits `BTCUSDT` into `BTC` and `USDT`; an unknown quote leaves the whole symbol as
/// the base and says "quote" for the unit.
fn split_symbol(symbol: &str) -> (String, String) {
    QUOTES
        .iter()
        .find(|q| symbol.len() > q.len() && symbol.ends_with(*q))
        .map(|q| (symbol[..symbol.len() - q.len()].to_owned(), (*q).to_owned()))
        .unwrap_or_else(|| (symbol.to_owned(), "quote".to_owned()))
}

/// Runs of consecutive candles no more than 1.5 intervals apart.
fn runs(t: &[f64], interval_s: f64) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut begin = 0;
    for i in 1..t.len() {
        if t[i] - t[i - 1] > 1.5 * interval_s {
            out.push(begin..i);
            begin = i;
        }
    }
    if !t.is_empty() {
        out.push(begin..t.len());
    }
    out
}

/// Smallest and largest finite value of `parts` together; `(0, 0)` when there is none.
///
/// The panels of a chart of a million candles ask this of tens of millions of values,
/// so it keeps [`LANES`] running extents side by side, which keeps the processor's
/// pipelines full, and joins them at the end.
/// The smallest and largest value do not depend on the order they are met in.
pub(crate) fn extent(parts: &[&[f64]]) -> (f64, f64) {
    fn add(lo: &mut f64, hi: &mut f64, v: f64) {
        // False for infinities and NaN alike.
        let finite = v.abs() < f64::INFINITY;
        *lo = if finite & (v < *lo) { v } else { *lo };
        *hi = if finite & (v > *hi) { v } else { *hi };
    }
    let mut lo = [f64::INFINITY; LANES];
    let mut hi = [f64::NEG_INFINITY; LANES];
    for part in parts {
        let chunks = part.chunks_exact(LANES);
        for &v in chunks.remainder() {
            add(&mut lo[0], &mut hi[0], v);
        }
        for chunk in chunks {
            for ((lo, hi), &v) in lo.iter_mut().zip(&mut hi).zip(chunk) {
                add(lo, hi, v);
            }
        }
    }
    let lo = lo.into_iter().fold(f64::INFINITY, f64::min);
    let hi = hi.into_iter().fold(f64::NEG_INFINITY, f64::max);
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
}

/// Running extents [`extent`] keeps side by side.
const LANES: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_split_into_base_and_quote_assets() {
        assert_eq!(split_symbol("BTCUSDT"), ("BTC".into(), "USDT".into()));
        assert_eq!(split_symbol("ETHBTC"), ("ETH".into(), "BTC".into()));
        assert_eq!(split_symbol("XYZ"), ("XYZ".into(), "quote".into()));
    }

    /// The extent of slices side by side is that of one fold over their finite values
    /// (the independent reference), for every length around the lanes' and with
    /// infinities and NaN anywhere; nothing finite is `(0, 0)`.
    #[test]
    fn the_extent_is_that_of_the_finite_values_of_every_part() {
        let reference = |parts: &[&[f64]]| {
            let finite = parts
                .iter()
                .flat_map(|p| p.iter())
                .filter(|v| v.is_finite());
            let lo = finite.clone().copied().reduce(f64::min);
            let hi = finite.copied().reduce(f64::max);
            lo.zip(hi).unwrap_or((0.0, 0.0))
        };
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for len in 0..40 {
            let values: Vec<f64> = (0..len)
                .map(|_| match next() % 10 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    _ => (next() % 2_000) as f64 - 1_000.5,
                })
                .collect();
            let (a, b) = values.split_at(len / 3);
            for parts in [&[&values[..]][..], &[a, b, &[]], &[b, &[7.25, -3.0], a]] {
                assert_eq!(extent(parts), reference(parts), "{parts:?}");
            }
        }
        assert_eq!(extent(&[&[f64::NAN, f64::INFINITY]]), (0.0, 0.0));
        assert_eq!(extent(&[]), (0.0, 0.0));
    }

    #[test]
    fn a_gap_in_time_splits_the_candles_into_runs() {
        let t = [0.0, 60.0, 120.0, 600.0, 660.0];
        assert_eq!(runs(&t, 60.0), vec![0..3, 3..5]);
        assert!(runs(&[], 60.0).is_empty());
    }
}
