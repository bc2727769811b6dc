//! Chart 03, anomaly detection: the finest detail D1 with its ± threshold and the
//! excursions beyond it shaded, its magnitude |D1| against the normal and anomaly
//! zones, and a list of the anomalies with their times, so a trader can look them up.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::format;
use super::panel::{self, Axes, Legend, Swatch, TimeChart, Y_AREA};
use super::theme::{ALERT, DETAIL, INK, MAGNITUDE, MUTED, UP};
use super::window::{Window, extent};
use crate::error::RenderError;

/// Width of the anomaly list, base pixels.
const LIST: f64 = 330.0;

/// Draws the anomaly chart into `area`.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let (w, h) = area.dim_in_pixel();
    let th = win.theme;
    // Beside the plots while they keep at least the list's width; below them on a
    // narrow chart.
    let (plots, list_area) = if w >= 2 * th.upx(LIST) {
        let (plots, list) = area.split_horizontally(w - th.upx(LIST));
        (plots, list.margin(0, 0, th.px(16.0), 0))
    } else {
        let (plots, list) = area.split_vertically(h * 3 / 5);
        (plots, list.margin(th.px(10.0), 0, th.px(Y_AREA * 0.35), 0))
    };
    let Some(d1) = win.blob.analysis.details.first() else {
        panel::heading(
            area,
            win.theme,
            "Finest detail",
            &[],
            "no detail levels in this analysis",
        )?;
        return Ok(());
    };
    let parts = super::rows(&plots, &[0.56, 0.44]);
    signed(&parts[0], win, d1)?;
    magnitude(&parts[1], win, d1)?;
    list(&list_area, win)
}

/// Circles on the anomalies, at their values mapped through `value`.
fn marks<DB: DrawingBackend>(
    chart: &mut TimeChart<DB>,
    win: &Window,
    value: fn(f64) -> f64,
) -> Result<(), RenderError> {
    let an = &win.blob.analysis.anomalies;
    let r = win.theme.px(4.5);
    chart.draw_series(
        an.indices
            .iter()
            .zip(&an.values)
            .map(|(&i, &v)| Circle::new((win.t[i as usize], value(v)), r, ALERT.filled())),
    )?;
    Ok(())
}

fn signed<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
    d1: &[f64],
) -> Result<(), RenderError> {
    let th = win.theme;
    let an = &win.blob.analysis.anomalies;
    let thr = an.threshold;
    let legend = [
        Legend::new(Swatch::Line(DETAIL.into()), format!("D1 ({})", win.band(1))),
        Legend::new(
            Swatch::Dashed(ALERT.into()),
            format!("± threshold {}", format::sig(thr)),
        ),
        Legend::new(Swatch::Fill(ALERT.mix(0.45)), "excursions"),
        Legend::new(
            Swatch::Dot(ALERT.into()),
            format!("anomalies ({})", an.indices.len()),
        ),
    ];
    let body = panel::heading(area, th, "Finest detail", &legend, "")?;
    let (lo, hi) = extent(&[d1, &[thr, -thr]]);
    let desc = format!("D1 ({})", win.quote);
    let y = panel::padded(lo, hi);
    let mut chart = panel::time_chart(&body, win, &Axes::new(y.clone(), &desc))?;
    panel::band(&mut chart, thr, y.end, ALERT.mix(0.04))?;
    panel::band(&mut chart, y.start, -thr, ALERT.mix(0.04))?;
    let above: Vec<f64> = d1.iter().map(|d| d.max(thr)).collect();
    let below: Vec<f64> = d1.iter().map(|d| d.min(-thr)).collect();
    panel::area(&mut chart, win, &above, thr, ALERT.mix(0.45))?;
    panel::area(&mut chart, win, &below, -thr, ALERT.mix(0.45))?;
    panel::level(&mut chart, 0.0, MUTED.stroke_width(1), false)?;
    panel::line(&mut chart, win, d1, th.line(DETAIL, 1.0))?;
    for y in [thr, -thr] {
        panel::level(&mut chart, y, th.line(ALERT, 1.5), true)?;
    }
    marks(&mut chart, win, |v| v)
}

fn magnitude<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
    d1: &[f64],
) -> Result<(), RenderError> {
    let th = win.theme;
    let thr = win.blob.analysis.anomalies.threshold;
    let abs: Vec<f64> = d1.iter().map(|d| d.abs()).collect();
    let legend = [
        Legend::new(Swatch::Line(MAGNITUDE.into()), "|D1|"),
        Legend::new(Swatch::Fill(UP.mix(0.18)), "normal"),
        Legend::new(Swatch::Fill(ALERT.mix(0.15)), "anomaly zone"),
    ];
    let body = panel::heading(area, th, "Magnitude", &legend, "")?;
    let (_, hi) = extent(&[&abs, &[thr]]);
    let desc = format!("|D1| ({})", win.quote);
    let top = panel::padded(0.0, hi).end;
    let mut chart = panel::time_chart(&body, win, &Axes::new(0.0..top, &desc).with_time())?;
    panel::band(&mut chart, 0.0, thr, UP.mix(0.18))?;
    panel::band(&mut chart, thr, top, ALERT.mix(0.15))?;
    panel::line(&mut chart, win, &abs, th.line(MAGNITUDE, 1.0))?;
    panel::level(&mut chart, thr, th.line(ALERT, 1.5), true)?;
    marks(&mut chart, win, f64::abs)
}

/// The anomaly list: how the threshold was made, then the largest anomalies in time order.
fn list<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let th = win.theme;
    let an = &win.blob.analysis.anomalies;
    let n = win.len();
    let d = format::sig_decimals(an.threshold);
    let share = an.indices.len() as f64 / n as f64 * 100.0;
    let lines = [
        format!("{} of {n} candles ({share:.2} %)", an.indices.len()),
        format!("threshold = median |D1| + {} × MAD", format::num(an.k, 1)),
        format!(
            "= {} + {} × {} = {} {}",
            format::num(an.median, d),
            format::num(an.k, 1),
            format::num(an.mad, d),
            format::num(an.threshold, d),
            win.quote
        ),
    ];
    let row = th.px(18.0);
    area.draw_text("Anomalies", &th.bold(13.0), (0, th.px(4.0)))?;
    for (k, text) in lines.iter().enumerate() {
        area.draw_text(text, &th.text(11.5), (0, th.px(28.0) + row * k as i32))?;
    }
    let top = th.px(28.0) + row * 4;
    let (w, h) = area.dim_in_pixel();
    // Lines below the table's header, a line kept free under them: the rows and, when
    // some are left out, one saying how many. Without room for a row and that line (a
    // short, narrow chart), the summary above stands alone.
    let room = (h as i32 - top) / row - 2;
    if room < 2 {
        return Ok(());
    }
    let cols = [0, (w as f64 * 0.50) as i32, w as i32 - th.px(6.0)];
    let right = Pos::new(HPos::Right, VPos::Top);
    let head = th.bold(11.5).color(&MUTED);
    area.draw_text(&win.time_caption(), &head, (cols[0], top))?;
    area.draw_text("D1", &head.pos(right), (cols[1] + th.px(34.0), top))?;
    area.draw_text(
        &format!("close ({})", win.quote),
        &head.pos(right),
        (cols[2], top),
    )?;
    let shown = chosen(an.indices.len(), room as usize, &an.values);
    for (k, &a) in shown.iter().enumerate() {
        let y = top + row * (k as i32 + 1);
        let i = an.indices[a] as usize;
        let style = th.text(11.5).color(&INK);
        area.draw_text(
            &win.datetime_ms(win.blob.candles.open_time_ms[i]),
            &style,
            (cols[0], y),
        )?;
        area.draw_text(
            &format::num(an.values[a], d),
            &style.pos(right),
            (cols[1] + th.px(34.0), y),
        )?;
        area.draw_text(
            &win.price(win.blob.candles.close[i]),
            &style.pos(right),
            (cols[2], y),
        )?;
    }
    let y = top + row * (shown.len() as i32 + 1);
    if shown.len() < an.indices.len() {
        let more = format!("… and {} smaller ones", an.indices.len() - shown.len());
        area.draw_text(&more, &th.muted(11.5), (cols[0], y))?;
    } else if an.indices.is_empty() {
        area.draw_text(
            "no candle crossed the threshold",
            &th.muted(11.5),
            (cols[0], y),
        )?;
    }
    Ok(())
}

/// Indices (into the anomaly arrays) of the `room` largest |D1|, in time order; one
/// row is kept for the "and N more" line when not all fit.
fn chosen(count: usize, room: usize, values: &[f64]) -> Vec<usize> {
    if count <= room {
        return (0..count).collect();
    }
    let mut by_size: Vec<usize> = (0..count).collect();
    by_size.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()));
    by_size.truncate(room.saturating_sub(1).max(1));
    by_size.sort_unstable();
    by_size
}
