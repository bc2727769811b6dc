//! Chart 02b, frequency bands: the close, then each detail D1..DJ with its period range
//! in wall-clock time and the band statistics the analysis measured (σ, mean |Δ|,
//! range, zero crossings, cycle lengths between peaks and between troughs, amplitude).
//! The statistics sit in the row's heading, never over the curve.

use plotters::coord::Shift;
use plotters::prelude::*;
use waveplot_protocol::blob::BandStats;

use super::approximations::close_row;
use super::format;
use super::measures;
use super::panel::{self, Axes};
use super::theme::{self, MUTED};
use super::window::{Window, extent};
use crate::error::RenderError;

/// Rows shorter than this (base pixels) show time labels only on the last row.
const LABELLED_ROW: f64 = 150.0;

/// Draws the bands into `area`.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let details = &win.blob.analysis.details;
    let rows = super::rows(area, &vec![1.0; details.len() + 1]);
    let every = f64::from(rows[0].dim_in_pixel().1) >= LABELLED_ROW * f64::from(win.theme.px(1.0));
    let c = win.blob.candles.close;
    let (lo, hi) = extent(&[c]);
    let note = format!(
        "range {} · σ {} {}",
        win.price(hi - lo),
        win.price(measures::std(c)),
        win.quote
    );
    close_row(&rows[0], win, &note, 0.0, every || details.is_empty())?;
    for (j, row) in rows.iter().enumerate().skip(1) {
        band_row(row, win, j, every || j == details.len())?;
    }
    Ok(())
}

/// What kind of movement a band with periods from `lo_secs` up holds.
fn kind(lo_secs: f64) -> &'static str {
    match lo_secs {
        s if s < 3_600.0 => "minute-scale moves",
        s if s < 12.0 * 3_600.0 => "intraday swings",
        s if s < 3.5 * 86_400.0 => "daily swings",
        s if s < 28.0 * 86_400.0 => "multi-day to weekly swings",
        _ => "multi-week trends",
    }
}

/// The band's statistics in one line.
fn summary(win: &Window, b: &BandStats) -> String {
    let v = |x: f64| format::sig(x);
    let cycle = |s: Option<f64>| s.map_or("—".to_owned(), format::duration);
    let mut text = format!(
        "σ {} · mean |Δ| {} · range {} · {} zero crossings",
        v(b.sigma),
        v(b.mean_abs_change),
        v(b.range),
        b.zero_crossings
    );
    if b.peak_period_s.is_some() || b.trough_period_s.is_some() {
        text += &format!(
            " · cycle {} peak→peak, {} trough→trough",
            cycle(b.peak_period_s),
            cycle(b.trough_period_s)
        );
    } else {
        text += " · too few peaks for a cycle length";
    }
    if let Some(a) = b.amplitude {
        text += &format!(" · amplitude {} {}", v(a), win.quote);
    }
    text
}

fn band_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
    j: usize,
    time_labels: bool,
) -> Result<(), RenderError> {
    let th = win.theme;
    let a = &win.blob.analysis;
    let d = &a.details[j - 1];
    let colour = theme::level_colour(j, a.details.len());
    let lo_secs = win.band_bars(j).0 * win.interval_s;
    let title = format!("D{j} · {} · {}", win.band(j), kind(lo_secs));
    let note = a
        .bands
        .get(j - 1)
        .map(|b| summary(win, b))
        .unwrap_or_default();
    let body = panel::heading(area, th, &title, &[], &note)?;
    let (lo, hi) = extent(&[d, &[0.0]]);
    let desc = format!("D{j} ({})", win.quote);
    let axes = Axes {
        time_labels,
        ..Axes::new(panel::padded(lo, hi), &desc)
    };
    let mut chart = panel::time_chart(&body, win, &axes)?;
    panel::area(&mut chart, win, d, 0.0, colour.mix(0.25))?;
    panel::level(&mut chart, 0.0, MUTED.stroke_width(1), false)?;
    panel::line(&mut chart, win, d, th.line(colour, 1.2))
}
