//! Chart 04, trading signals: the close with the trend smooth and its neutral band,
//! BUY/SELL stretches shaded and their entries marked, and the deviation from the
//! trend against the buffer. The analysis labels every candle; drawing a marker on
//! each made solid clusters in the original, so only the first candle of each
//! stretch gets a marker while the counts still cover every candle.

use std::collections::HashMap;
use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_backend::BackendCoord;
use waveplot_protocol::blob::Signal;

use super::overview::{trend, trend_label};
use super::panel::{self, Axes, Legend, Swatch, TimeChart, down, up};
use super::theme::{DOWN, MAGNITUDE, MUTED, PRICE, TREND, UP};
use super::window::{Window, extent};
use super::{format, measures};
use crate::error::RenderError;

/// Draws the signal chart into `area`.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let Some((level, trend)) = trend(win) else {
        panel::heading(
            area,
            win.theme,
            "Signals",
            &[],
            "no smooth levels in this analysis",
        )?;
        return Ok(());
    };
    let sig = &win.blob.analysis.signals;
    let runs: Vec<(Signal, Range<usize>)> = measures::runs(&sig.signal)
        .into_iter()
        .filter(|(s, _)| *s != Signal::Hold)
        .collect();
    let parts = super::rows(area, &[0.6, 0.4]);
    price(&parts[0], win, level, trend, &runs)?;
    deviation(&parts[1], win, trend, &runs)
}

/// Entry markers: a triangle under (BUY) or over (SELL) `value(i)` at each run's start.
/// Where entries are denser than pixels (a million candles), many fall on one pixel;
/// of the markers of one kind at one pixel only the last is drawn, as it is the one
/// on top, so that a chart draws at most a marker of each kind a pixel. Redrawing the
/// same triangle would change only its edge pixels, which are blended by coverage.
fn entries<DB: DrawingBackend>(
    chart: &mut TimeChart<DB>,
    win: &Window,
    runs: &[(Signal, Range<usize>)],
    value: impl Fn(usize) -> f64,
) -> Result<(), RenderError> {
    let r = win.theme.px(6.0);
    let at: Vec<(bool, BackendCoord)> = runs
        .iter()
        .map(|(s, range)| {
            let i = range.start;
            (
                *s == Signal::Buy,
                chart.backend_coord(&(win.t[i], value(i))),
            )
        })
        .collect();
    let mut last = HashMap::with_capacity(at.len());
    for (k, marker) in at.iter().enumerate() {
        last.insert(*marker, k);
    }
    chart.draw_series(
        runs.iter()
            .enumerate()
            .filter(|&(k, _)| last[&at[k]] == k)
            .map(|(_, (s, range))| {
                let i = range.start;
                let (shape, colour) = match s {
                    Signal::Buy => (up((0, 2 * r), r), UP),
                    _ => (down((0, -2 * r), r), DOWN),
                };
                EmptyElement::at((win.t[i], value(i))) + Polygon::new(shape, colour.filled())
            }),
    )?;
    Ok(())
}

fn price<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
    level: usize,
    trend: &[f64],
    runs: &[(Signal, Range<usize>)],
) -> Result<(), RenderError> {
    let th = win.theme;
    let sig = &win.blob.analysis.signals;
    let close = win.blob.candles.close;
    let entries_of = |s: Signal| runs.iter().filter(|(r, _)| *r == s).count();
    let legend = [
        Legend::new(Swatch::Line(PRICE.into()), "close"),
        Legend::new(Swatch::Line(TREND.into()), trend_label(win, level)),
        Legend::new(
            Swatch::Fill(MUTED.mix(0.25)),
            format!("neutral ± {}", win.price(sig.buffer)),
        ),
        Legend::new(
            Swatch::Up(UP.into()),
            format!(
                "BUY {} candles, {} entries",
                sig.buy,
                entries_of(Signal::Buy)
            ),
        ),
        Legend::new(
            Swatch::Down(DOWN.into()),
            format!(
                "SELL {} candles, {} entries",
                sig.sell,
                entries_of(Signal::Sell)
            ),
        ),
    ];
    let note = format!("HOLD {} candles", sig.hold);
    let body = panel::heading(area, th, "Price and trend", &legend, &note)?;
    let upper: Vec<f64> = trend.iter().map(|t| t + sig.buffer).collect();
    let lower: Vec<f64> = trend.iter().map(|t| t - sig.buffer).collect();
    let (lo, hi) = extent(&[close, &upper, &lower]);
    let y = panel::padded(lo, hi);
    let desc = format!("price ({})", win.quote);
    let mut chart = panel::time_chart(&body, win, &Axes::new(y.clone(), &desc))?;
    shade(&mut chart, win, runs, y)?;
    for run in &win.runs {
        let band = || {
            let forth = run.clone().map(|i| (i, upper[i]));
            forth.chain(run.clone().rev().map(|i| (i, lower[i])))
        };
        let kept = panel::vertices(&chart, win, 2 * run.len(), band, &[]);
        chart.draw_series([Polygon::new(kept, MUTED.mix(0.22).filled())])?;
    }
    panel::line(&mut chart, win, trend, th.line(TREND, 2.0))?;
    panel::line(&mut chart, win, close, th.line(PRICE, 1.2))?;
    entries(&mut chart, win, runs, |i| close[i])
}

/// Light background behind each BUY and SELL stretch: the BUY stretches' first, then
/// the SELL stretches', so that the stretches of a colour are drawn together. Where
/// stretches are denser than pixels, a recorded scene keeps each colour's as a few
/// runs a pixel column ([`crate::scene`]) instead of a rectangle a stretch.
fn shade<DB: DrawingBackend>(
    chart: &mut TimeChart<DB>,
    win: &Window,
    runs: &[(Signal, Range<usize>)],
    y: Range<f64>,
) -> Result<(), RenderError> {
    let half = win.interval_s / 2.0;
    for (kind, colour) in [(Signal::Buy, UP), (Signal::Sell, DOWN)] {
        chart.draw_series(runs.iter().filter(|(s, _)| *s == kind).map(|(_, r)| {
            let (x0, x1) = (win.t[r.start] - half, win.t[r.end - 1] + half);
            Rectangle::new([(x0, y.start), (x1, y.end)], colour.mix(0.08).filled())
        }))?;
    }
    Ok(())
}

fn deviation<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
    trend: &[f64],
    runs: &[(Signal, Range<usize>)],
) -> Result<(), RenderError> {
    let th = win.theme;
    let buffer = win.blob.analysis.signals.buffer;
    let dev: Vec<f64> = win
        .blob
        .candles
        .close
        .iter()
        .zip(trend)
        .map(|(c, t)| c - t)
        .collect();
    let b = win.price(buffer);
    let legend = [
        Legend::new(Swatch::Line(MAGNITUDE.into()), "close − trend"),
        Legend::new(Swatch::Dashed(DOWN.into()), format!("SELL above +{b}")),
        Legend::new(Swatch::Dashed(UP.into()), format!("BUY below −{b}")),
    ];
    let note = format!(
        "buffer = 0.8 × σ {}",
        format::sig(win.blob.analysis.signals.deviation_std)
    );
    let body = panel::heading(area, th, "Deviation from trend", &legend, &note)?;
    let (lo, hi) = extent(&[&dev, &[buffer, -buffer]]);
    let y = panel::padded(lo, hi);
    let desc = format!("deviation ({})", win.quote);
    let mut chart = panel::time_chart(&body, win, &Axes::new(y.clone(), &desc).with_time())?;
    shade(&mut chart, win, runs, y)?;
    panel::band(&mut chart, -buffer, buffer, MUTED.mix(0.22))?;
    panel::level(&mut chart, 0.0, MUTED.stroke_width(1), false)?;
    panel::level(&mut chart, buffer, th.line(DOWN, 1.5), true)?;
    panel::level(&mut chart, -buffer, th.line(UP, 1.5), true)?;
    panel::line(&mut chart, win, &dev, th.line(MAGNITUDE, 1.2))?;
    entries(&mut chart, win, runs, |i| dev[i])
}
