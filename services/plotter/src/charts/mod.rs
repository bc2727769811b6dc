//! The six charts, one module each, drawn on any plotters backend so that PNG and SVG
//! share every line of drawing code. [`draw`] fills the canvas, draws the frame (title,
//! footer) and hands the remaining area to the chart.
//!
//! Shared pieces: [`window`] (facts about the analysed window), [`axis`] (the time axis
//! in the chart's time zone), [`format`] (numbers, periods, dates), [`theme`] (colours, fonts, sizes),
//! [`frame`] (title and footer), [`panel`] (headings, time charts, gap-aware lines),
//! [`thin`] (lines thinned to what their pixels show) and
//! [`measures`] (the few summary numbers the charts compute themselves); [`table`] is the
//! dashboard's table.

mod anomalies;
mod approximations;
mod axis;
mod bands;
mod format;
mod frame;
mod measures;
mod overview;
mod panel;
mod signals;
mod statistics;
mod table;
mod theme;
mod thin;
mod window;

use plotters::coord::Shift;
use plotters::prelude::*;
use waveplot_protocol::blob::{BlobView, Column, Header, Levels, Parts};
use waveplot_protocol::{BlobError, PlotId, TimeZone};

use crate::error::RenderError;
#[cfg(test)]
pub(crate) use theme::SVG_UNICODE_RANGE;
use theme::Theme;
#[cfg(test)]
pub(crate) use theme::register_fonts;
pub(crate) use theme::svg_font_faces;
pub(crate) use theme::{FAMILY, font_file};
use window::Window;

/// Draws chart `plot` of `blob` on `root`, with times written in `zone`; `raster` says
/// that `root` is pixels (PNG), already white, rather than vectors (SVG), which are
/// given a white background first.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    blob: BlobView<'_>,
    plot: PlotId,
    zone: &TimeZone,
    raster: bool,
) -> Result<(), RenderError> {
    if blob.candles.is_empty() {
        return Err(RenderError::Empty);
    }
    theme::register_fonts()?;
    let (width, height) = root.dim_in_pixel();
    let th = Theme::new(width, height, plot.default_size());
    let plot_width = f64::from(width) - f64::from(th.px(panel::Y_AREA + 40.0));
    let win = Window::new(blob, th, plot_width, zone, raster);
    if !raster {
        root.fill(&WHITE)?;
    }
    let body = frame::draw(root, &win, plot)?;
    match plot {
        PlotId::Overview => overview::draw(&body, &win),
        PlotId::Approximations => approximations::draw(&body, &win),
        PlotId::Bands => bands::draw(&body, &win),
        PlotId::Anomalies => anomalies::draw(&body, &win),
        PlotId::Signals => signals::draw(&body, &win),
        PlotId::Statistics => statistics::draw(&body, &win),
    }
}

/// The parts of a blob chart `plot` draws. Every chart reads the candle times and the
/// lows, highs and closes (the [`Window`] does); the rest follows the chart's code.
pub(crate) fn parts(plot: PlotId, header: &Header) -> Parts {
    parts_with_trend(plot, trend_level(header))
}

/// [`parts`] with the trend at smooth level `trend`.
fn parts_with_trend(plot: PlotId, trend: u32) -> Parts {
    let trend = || Levels::Only(vec![trend]);
    let mut columns = vec![Column::OpenTime, Column::Low, Column::High, Column::Close];
    let (details, smooths, signal) = match plot {
        PlotId::Overview => (Levels::Only(vec![1]), trend(), false),
        PlotId::Approximations => (Levels::All, Levels::All, false),
        PlotId::Bands => (Levels::All, Levels::None, false),
        PlotId::Anomalies => (Levels::Only(vec![1]), Levels::None, false),
        PlotId::Signals => (Levels::None, trend(), true),
        PlotId::Statistics => (Levels::Only(vec![1]), Levels::None, false),
    };
    if matches!(plot, PlotId::Overview | PlotId::Statistics) {
        columns.extend([Column::Open, Column::Volume]);
    }
    Parts {
        columns,
        coeffs: false,
        details,
        smooths,
        signal,
    }
}

/// Memory a chart takes besides the series it reads: the process and the chart's
/// fonts and buffers, measured under 16 MiB.
const BASE_BYTES: u64 = 16 << 20;

/// The most memory drawing chart `plot` of `candles` candles analysed at `levels`
/// levels at `width`×`height` takes, in bytes: the series it reads ([`parts`]) and the candle times, the series
/// it derives from them (deviations, magnitudes, clipped details, rolling σ), each
/// eight bytes a candle and a tenth more for growth, and the image's pixels. Measured
/// peaks of a million-candle window stay under it: at 8 levels and the default sizes
/// 74–188 MiB against estimates of 98–199; at 19 levels and 4800×3600, 123–412 MiB
/// against 142–455.
pub(crate) fn memory(plot: PlotId, candles: u32, levels: u32, (width, height): (u32, u32)) -> u64 {
    let parts = parts_with_trend(plot, 1);
    let count = |l: &Levels| match l {
        Levels::None => 0,
        Levels::All => u64::from(levels),
        Levels::Only(only) => only.len() as u64,
    };
    let derived = match plot {
        PlotId::Overview | PlotId::Bands => 0,
        PlotId::Approximations => 1,
        PlotId::Anomalies | PlotId::Signals => 3,
        PlotId::Statistics => 4,
    };
    let series = parts.columns.len() as u64 + count(&parts.details) + count(&parts.smooths);
    let per_candle = 8 * (series + 1 + derived) + u64::from(parts.signal);
    let data = u64::from(candles) * per_candle * 11 / 10;
    data + memory_of_pixels((width, height))
}

/// Memory any chart of `width`×`height` takes: [`BASE_BYTES`] and the image's pixels.
pub(crate) fn memory_of_pixels((width, height): (u32, u32)) -> u64 {
    BASE_BYTES + u64::from(width) * u64::from(height) * 3
}

/// The smooth level the charts draw as the trend: the parameters' trend level capped
/// at the levels used, as the analysis chose it.
fn trend_level(header: &Header) -> u32 {
    header.params.trend_level.min(header.levels_used).max(1)
}

/// Checks that `blob` holds what chart `plot` draws, and that its signals follow the
/// trend its parameters name (the smooth a partial read kept).
pub(crate) fn check(blob: BlobView<'_>, plot: PlotId) -> Result<(), BlobError> {
    blob.check_parts(&parts(plot, blob.header))?;
    let signals = blob.analysis.signals.trend_level;
    if blob.header.levels_used > 0 && signals.max(1) != trend_level(blob.header) {
        return Err(BlobError::Inconsistent(format!(
            "the signals follow smooth S{signals}, the parameters name S{}",
            trend_level(blob.header)
        )));
    }
    Ok(())
}

/// Splits `area` into stacked rows whose heights follow `weights`.
fn rows<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    weights: &[f64],
) -> Vec<DrawingArea<DB, Shift>> {
    let total: f64 = weights.iter().sum();
    let (_, height) = area.dim_in_pixel();
    let mut out = Vec::with_capacity(weights.len());
    let mut rest = area.clone();
    let mut left = f64::from(height);
    for (i, w) in weights.iter().enumerate() {
        if i + 1 == weights.len() {
            out.push(rest.clone());
            break;
        }
        let h = (f64::from(height) * w / total).round().min(left);
        let (top, bottom) = rest.split_vertically(h as u32);
        out.push(top);
        rest = bottom;
        left -= h;
    }
    out
}
