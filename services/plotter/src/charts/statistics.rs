//! Chart 05, the statistics dashboard: the distribution of the finest detail with its
//! anomaly threshold, the distribution of candle-to-candle price changes, the rolling
//! spread of D1 over a window stated in wall-clock time, and a table of summary
//! figures beside them (not over them, as in the original).

use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::panel::{self, Axes, Legend, Swatch};
use super::theme::{ALERT, DETAIL, GRID, INK, MUTED, UP};
use super::window::{Window, extent};
use super::{format, measures, table};
use crate::error::RenderError;

/// Share of the width given to the plots; the table takes the rest.
const PLOTS: f64 = 0.62;

/// Draws the dashboard into `area`.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let (w, _) = area.dim_in_pixel();
    let (plots, rest) = area.split_horizontally((f64::from(w) * PLOTS) as u32);
    let parts = super::rows(&plots, &[0.5, 0.5]);
    let (w_top, _) = parts[0].dim_in_pixel();
    let (left, right) = parts[0].split_horizontally(w_top / 2);
    let close = win.blob.candles.close;
    let changes: Vec<f64> = close.windows(2).map(|p| p[1] - p[0]).collect();
    let a = &win.blob.analysis;
    let empty = Vec::new();
    let d1 = a.details.first().unwrap_or(&empty);
    let thr = a.anomalies.threshold;
    let d1_title = format!("D1 ({}) distribution", win.band(1));
    histogram(
        &left,
        win,
        &d1_title,
        d1,
        &[(thr, ALERT), (-thr, ALERT)],
        DETAIL,
    )?;
    let change_title = format!("{} close-to-close change", win.blob.header.interval);
    histogram(&right, win, &change_title, &changes, &[(0.0, MUTED)], UP)?;
    rolling(&parts[1], win, d1)?;
    table::draw(&rest.margin(0, 0, win.theme.px(22.0), 0), win)
}

/// A histogram of `values` with vertical `marks`.
fn histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
    title: &str,
    values: &[f64],
    marks: &[(f64, RGBColor)],
    colour: RGBColor,
) -> Result<(), RenderError> {
    let th = win.theme;
    // A few huge moves would squeeze the bulk into a couple of bins; the axis covers the
    // middle 99 % and the marks, and the rest is counted in the edge bins.
    let (q_lo, q_hi) = (
        measures::quantile(values, 0.005),
        measures::quantile(values, 0.995),
    );
    let marked: Vec<f64> = marks.iter().map(|m| m.0).collect();
    let (lo, hi) = extent(&[&[q_lo, q_hi], &marked]);
    let x: Range<f64> = panel::padded(lo, hi);
    let outside = values.iter().filter(|v| !x.contains(v)).count();
    let note = match outside {
        0 => String::new(),
        n => format!("{n} beyond the axis, in the edge bins"),
    };
    let body = panel::heading(area, th, title, &[], &note)?;
    let bins = ((values.len() as f64).sqrt() * 1.5).clamp(5.0, 50.0) as usize;
    let counts = measures::histogram(values, bins, &x);
    let top = f64::from(counts.iter().copied().max().unwrap_or(0)).max(1.0) * 1.1;
    let mut chart = ChartBuilder::on(&body)
        .margin_right(th.px(10.0))
        .x_label_area_size(th.upx(34.0))
        .y_label_area_size(th.upx(52.0))
        .build_cartesian_2d(x.clone(), 0.0..top)?;
    let dec = format::tick_decimals((x.end - x.start) / 5.0);
    let fmt = |v: &f64| format::num(*v, dec);
    chart
        .configure_mesh()
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&fmt)
        .y_label_formatter(&|v: &f64| format::num(*v, 0))
        .label_style(th.text(11.0))
        .axis_desc_style(th.text(12.0))
        .x_desc(win.quote.as_str())
        .y_desc("candles")
        .draw()?;
    let width = (x.end - x.start) / bins as f64;
    chart.draw_series(counts.iter().enumerate().map(|(i, &n)| {
        let x0 = x.start + width * i as f64;
        Rectangle::new(
            [(x0, 0.0), (x0 + width * 0.9, f64::from(n))],
            colour.mix(0.75).filled(),
        )
    }))?;
    for &(at, c) in marks {
        chart.draw_series(DashedLineSeries::new(
            [(at, 0.0), (at, top)],
            6,
            4,
            th.line(c, 1.5),
        ))?;
    }
    Ok(())
}

/// The rolling σ of D1 over about a 24th of the window (at least 8 candles).
fn rolling<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
    d1: &[f64],
) -> Result<(), RenderError> {
    let th = win.theme;
    let n = win.len();
    let w = (n / 24).clamp(8, n.max(2));
    let rolled = measures::rolling_std(d1, w);
    let overall = measures::std(d1);
    let span = format::duration(w as f64 * win.interval_s);
    let legend = [
        Legend::new(
            Swatch::Line(ALERT.into()),
            format!("σ over the last {span} ({w} candles)"),
        ),
        Legend::new(
            Swatch::Dashed(INK.into()),
            format!("whole window {}", format::sig(overall)),
        ),
    ];
    let body = panel::heading(area, th, "Rolling σ of D1", &legend, "")?;
    let ys: Vec<f64> = rolled.iter().map(|r| r.unwrap_or(f64::NAN)).collect();
    let (_, hi) = extent(&[&ys, &[overall]]);
    let desc = format!("σ ({})", win.quote);
    let top = panel::padded(0.0, hi).end;
    let mut chart = panel::time_chart(&body, win, &Axes::new(0.0..top, &desc).with_time())?;
    for run in &win.runs {
        let points = || {
            run.clone()
                .filter(|&i| ys[i].is_finite())
                .map(|i| (i, ys[i]))
        };
        let len = points().count();
        panel::fill(&mut chart, win, len, points, 0.0, ALERT.mix(0.15))?;
        panel::path(&mut chart, win, len, points, th.line(ALERT, 1.2))?;
    }
    panel::level(&mut chart, overall, th.line(INK, 1.0), true)
}
