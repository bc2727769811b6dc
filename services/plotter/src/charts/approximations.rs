//! Chart 02a, progressive approximations: the close, then each smooth S1..SJ over the
//! one before it, with what the step removed (the detail Dj, on a right-hand axis) and
//! the periods the smooth keeps, in wall-clock time. Rows follow the levels the blob
//! actually has, so a short window with four levels draws five rows, not nine.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::format;
use super::measures;
use super::panel::{self, Axes, Legend, Swatch};
use super::theme::{self, ALERT, MUTED, PRICE};
use super::window::{Window, extent};
use crate::error::RenderError;

/// Width of the right-hand "removed" axis, base pixels.
const RIGHT: f64 = 78.0;
/// Rows shorter than this (base pixels) show time labels only on the last row.
const LABELLED_ROW: f64 = 150.0;

/// Draws the approximations into `area`.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let smooths = &win.blob.analysis.smooths;
    let rows = super::rows(area, &vec![1.0; smooths.len() + 1]);
    let every = f64::from(rows[0].dim_in_pixel().1) >= LABELLED_ROW * f64::from(win.theme.px(1.0));
    let labels = |i: usize| every || i == smooths.len();
    let c = win.blob.candles.close;
    close_row(&rows[0], win, "all periods", RIGHT, labels(0))?;
    for (j, row) in rows.iter().enumerate().skip(1) {
        let prev = if j == 1 { c } else { &smooths[j - 2] };
        level_row(row, win, j, prev, labels(j))?;
    }
    Ok(())
}

/// The first row of 02a and 02b: the close with `note`, `right` base pixels kept free
/// on the right so that it lines up with the rows below.
pub(crate) fn close_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
    note: &str,
    right: f64,
    time_labels: bool,
) -> Result<(), RenderError> {
    let th = win.theme;
    let c = win.blob.candles.close;
    let legend = [Legend::new(Swatch::Line(PRICE.into()), "close")];
    let body = panel::heading(area, th, "Close", &legend, note)?;
    let (lo, hi) = extent(&[c]);
    let desc = format!("price ({})", win.quote);
    let axes = Axes {
        right,
        time_labels,
        ..Axes::new(panel::padded(lo, hi), &desc)
    };
    let mut chart = panel::time_chart(&body, win, &axes)?;
    panel::line(&mut chart, win, c, th.line(PRICE, 1.2))
}

fn level_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
    j: usize,
    prev: &[f64],
    time_labels: bool,
) -> Result<(), RenderError> {
    let th = win.theme;
    let a = &win.blob.analysis;
    let (smooth, detail) = (&a.smooths[j - 1], &a.details[j - 1]);
    let colour = theme::level_colour(j, a.smooths.len());
    let keeps = format::duration(win.band_bars(j).1 * win.interval_s);
    let before = if j == 1 {
        "close".to_owned()
    } else {
        format!("S{} (before)", j - 1)
    };
    let legend = [
        Legend::new(Swatch::Line(colour.into()), format!("S{j}")),
        Legend::new(Swatch::Line(MUTED.into()), before),
        Legend::new(
            Swatch::Fill(ALERT.mix(0.3)),
            format!("removed D{j}, {} (right axis)", win.band(j)),
        ),
    ];
    let sigma = measures::std(detail);
    let note = format!("removed σ {} {}", format::sig(sigma), win.quote);
    let title = format!("S{j} · keeps periods > {keeps}");
    let body = panel::heading(area, th, &title, &legend, &note)?;
    let (lo, hi) = extent(&[smooth, prev]);
    let desc = format!("price ({})", win.quote);
    let axes = Axes {
        right: RIGHT,
        time_labels,
        ..Axes::new(panel::padded(lo, hi), &desc)
    };
    // The removed part is mostly small with rare spikes; ±3σ keeps its shape visible.
    let r = if sigma > 0.0 { 3.0 * sigma } else { 1.0 };
    let clipped: Vec<f64> = detail.iter().map(|d| d.clamp(-r, r)).collect();
    let (chart, axis) = panel::build(&body, win, &axes, true)?;
    let mut chart = chart.set_secondary_coord(win.axis.clone(), -r..r);
    panel::mesh(&mut chart, win, &axes, &axis)?;
    let dec = format::tick_decimals(r / 3.0);
    let fmt = |v: &f64| format::num(*v, dec);
    chart
        .configure_secondary_axes()
        .y_labels(5)
        .y_label_formatter(&fmt)
        .label_style(th.text(11.0).color(&ALERT))
        .axis_desc_style(th.text(12.0).color(&ALERT))
        .y_desc(format!("removed ({})", win.quote))
        .draw()?;
    for run in &win.runs {
        let ends = [(win.t[run.end - 1], 0.0), (win.t[run.start], 0.0)];
        let kept =
            panel::series_vertices(chart.borrow_secondary(), win, &clipped, run.clone(), &ends);
        chart.draw_secondary_series(AreaSeries::new(kept, 0.0, ALERT.mix(0.22).filled()))?;
    }
    panel::line(&mut chart, win, prev, th.line(MUTED, 1.0))?;
    panel::line(&mut chart, win, smooth, th.line(colour, 2.0))
}
