//! Chart 01, the overview: price (candlesticks when each candle gets at least 3 px,
//! otherwise the close over a high–low band) with the trend smooth, the finest detail
//! D1 with its ± anomaly threshold and the anomalies marked, and volume in bars that
//! are summed over enough candles to stay at least a pixel apart.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::format;
use super::panel::{self, Axes, Legend, Swatch};
use super::theme::{self, ALERT, DETAIL, DOWN, PRICE, TREND, UP};
use super::window::{Window, extent};
use crate::error::RenderError;

/// Narrowest candle, in pixels, still drawn as a candlestick.
const CANDLE_PX: f64 = 3.0;

/// Draws the overview into `area`.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let parts = super::rows(area, &[0.48, 0.26, 0.26]);
    price(&parts[0], win)?;
    detail(&parts[1], win)?;
    volume(&parts[2], win)
}

/// The trend smooth's level and series, if the blob has it.
pub(crate) fn trend<'b>(win: &Window<'b>) -> Option<(usize, &'b [f64])> {
    let smooths = &win.blob.analysis.smooths;
    let level = (win.blob.analysis.signals.trend_level as usize).clamp(1, smooths.len().max(1));
    smooths.get(level - 1).map(|s| (level, s.as_slice()))
}

/// The legend text of the trend smooth: what it keeps.
pub(crate) fn trend_label(win: &Window, level: usize) -> String {
    let keeps = win.band_bars(level).1 * win.interval_s;
    format!("trend S{level} (periods > {})", format::duration(keeps))
}

fn price<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let (th, c) = (win.theme, win.blob.candles);
    let sticks = win.px_per_candle() >= CANDLE_PX;
    let mut legend = if sticks {
        vec![
            Legend::new(Swatch::Fill(UP.into()), "rising"),
            Legend::new(Swatch::Fill(DOWN.into()), "falling"),
        ]
    } else {
        vec![
            Legend::new(Swatch::Line(PRICE.into()), "close"),
            Legend::new(Swatch::Fill(PRICE.mix(0.25)), "high–low"),
        ]
    };
    let trend = trend(win);
    if let Some((level, _)) = trend {
        legend.push(Legend::new(
            Swatch::Line(TREND.into()),
            trend_label(win, level),
        ));
    }
    let (first, last) = (c.open[0], c.close[c.close.len() - 1]);
    let change = if first != 0.0 {
        (last / first - 1.0) * 100.0
    } else {
        0.0
    };
    let note = format!(
        "last {} {} · {:+.2} % over the window",
        win.price(last),
        win.quote,
        change
    );
    let body = panel::heading(area, th, "Price", &legend, &note)?;
    let (lo, hi) = extent(&[c.low, c.high]);
    let desc = format!("price ({})", win.quote);
    let mut chart = panel::time_chart(&body, win, &Axes::new(panel::padded(lo, hi), &desc))?;
    if sticks {
        let w = (win.px_per_candle() * 0.7).max(1.0) as u32;
        chart.draw_series((0..win.len()).map(|i| {
            // The colour is chosen here, by the volume bars' rule (close ≥ open rises):
            // plotters would draw a candle that closes at its open as falling.
            let colour = rising(c.open[i], c.close[i]);
            CandleStick::new(
                win.t[i],
                c.open[i],
                c.high[i],
                c.low[i],
                c.close[i],
                colour.filled(),
                colour.filled(),
                w,
            )
        }))?;
    } else {
        let range = PRICE.mix(0.25).stroke_width(1);
        chart.draw_series(
            (0..win.len())
                .map(|i| PathElement::new([(win.t[i], c.low[i]), (win.t[i], c.high[i])], range)),
        )?;
        panel::line(&mut chart, win, c.close, th.line(PRICE, 1.2))?;
    }
    if let Some((_, s)) = trend {
        panel::line(&mut chart, win, s, th.line(TREND, 2.0))?;
    }
    Ok(())
}

fn detail<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let th = win.theme;
    let a = &win.blob.analysis;
    let Some(d1) = a.details.first() else {
        panel::heading(
            area,
            th,
            "Finest detail",
            &[],
            "no detail levels in this analysis",
        )?;
        return Ok(());
    };
    let thr = a.anomalies.threshold;
    let dec = format::sig_decimals(thr);
    let legend = [
        Legend::new(Swatch::Line(DETAIL.into()), format!("D1 ({})", win.band(1))),
        Legend::new(
            Swatch::Dashed(ALERT.into()),
            format!("± threshold {}", format::num(thr, dec)),
        ),
        Legend::new(
            Swatch::Dot(ALERT.into()),
            format!("anomalies ({})", a.anomalies.indices.len()),
        ),
    ];
    let note = "D1 > 0: close above its local smooth";
    let body = panel::heading(area, th, "Finest detail", &legend, note)?;
    let (lo, hi) = extent(&[d1, &[thr, -thr]]);
    let desc = format!("D1 ({})", win.quote);
    let mut chart = panel::time_chart(&body, win, &Axes::new(panel::padded(lo, hi), &desc))?;
    panel::level(&mut chart, 0.0, theme::MUTED.stroke_width(1), false)?;
    panel::line(&mut chart, win, d1, th.line(DETAIL, 1.0))?;
    for y in [thr, -thr] {
        panel::level(&mut chart, y, th.line(ALERT, 1.5), true)?;
    }
    let r = th.px(4.0);
    let marks = a.anomalies.indices.iter().zip(&a.anomalies.values);
    chart.draw_series(
        marks.map(|(&i, &v)| Circle::new((win.t[i as usize], v), r, ALERT.filled())),
    )?;
    Ok(())
}

fn volume<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let (th, c) = (win.theme, win.blob.candles);
    // A bar needs 2 px plus a 1 px gap to stay a bar; denser candles are summed.
    let bucket = (3.0 / win.px_per_candle()).ceil().max(1.0) as usize;
    let legend = [
        Legend::new(Swatch::Fill(UP.mix(0.8)), "close ≥ open"),
        Legend::new(Swatch::Fill(DOWN.mix(0.8)), "close < open"),
    ];
    let note = if bucket > 1 {
        format!(
            "each bar sums {bucket} candles ({})",
            format::duration(bucket as f64 * win.interval_s)
        )
    } else {
        "one bar per candle".to_owned()
    };
    let title = format!("Volume ({})", win.base);
    let body = panel::heading(area, th, &title, &legend, &note)?;
    let bars: Vec<(usize, usize, f64)> = (0..win.len())
        .step_by(bucket)
        .map(|i| {
            let j = (i + bucket).min(win.len());
            (i, j, c.volume[i..j].iter().sum())
        })
        .collect();
    let sums: Vec<f64> = bars.iter().map(|b| b.2).collect();
    let (_, hi) = extent(&[&sums]);
    let desc = format!("volume ({})", win.base);
    let axes = Axes {
        compact: true,
        ..Axes::new(0.0..(hi * 1.08).max(1e-12), &desc).with_time()
    };
    let mut chart = panel::time_chart(&body, win, &axes)?;
    let gap = win.axis.secs_per_px(win.plot_width);
    let half = win.interval_s / 2.0;
    chart.draw_series(bars.iter().map(|&(i, j, v)| {
        let colour = rising(c.open[i], c.close[j - 1]);
        let x1 = (win.t[j - 1] + half - gap).max(win.t[i] - half);
        Rectangle::new([(win.t[i] - half, 0.0), (x1, v)], colour.mix(0.8).filled())
    }))?;
    Ok(())
}

/// The colour of a candle or bar from `open` to `close`: [`UP`] when it closes at or
/// above its open, [`DOWN`] below, alike in the candlesticks and the volume bars.
fn rising(open: f64, close: f64) -> RGBColor {
    if close >= open { UP } else { DOWN }
}
