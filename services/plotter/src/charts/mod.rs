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
use waveplot_protocol::{Blob, PlotId, TimeZone};

use crate::error::RenderError;
#[cfg(test)]
pub(crate) use theme::SVG_UNICODE_RANGE;
use theme::Theme;
#[cfg(test)]
pub(crate) use theme::register_fonts;
pub(crate) use theme::svg_font_faces;
pub(crate) use theme::{FAMILY, font_file};
use window::Window;

/// Draws chart `plot` of `blob` on `root`, with times written in `zone`.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    blob: &Blob,
    plot: PlotId,
    zone: &TimeZone,
) -> Result<(), RenderError> {
    if blob.candles.is_empty() {
        return Err(RenderError::Empty);
    }
    theme::register_fonts()?;
    let (width, height) = root.dim_in_pixel();
    let th = Theme::new(width, height, plot.default_size());
    let plot_width = f64::from(width) - f64::from(th.px(panel::Y_AREA + 40.0));
    let win = Window::new(blob, th, plot_width, zone);
    root.fill(&WHITE)?;
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
