//! The summary table of the statistics dashboard: price, finest detail, anomalies and
//! signals, each a section of label/value rows. Values carry their unit, and counts
//! come from the blob, so HOLD can never be negative as in the original.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::theme::{GRID, UP};
use super::window::{Window, extent};
use super::{format, measures};
use crate::error::RenderError;

/// A table row.
enum Row {
    /// A section heading.
    Section(String),
    /// A label and its value.
    Item(&'static str, String),
}

/// Draws the table into `area`, rows shrinking to fit.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    win: &Window,
) -> Result<(), RenderError> {
    let th = win.theme;
    let rows = rows(win);
    let (w, h) = area.dim_in_pixel();
    let row_h = (f64::from(th.px(22.0))).min(f64::from(h) / rows.len() as f64);
    let size = (row_h / f64::from(th.px(1.0)) * 0.55).min(12.5);
    let (left, right) = (
        Pos::new(HPos::Left, VPos::Center),
        Pos::new(HPos::Right, VPos::Center),
    );
    for (k, row) in rows.iter().enumerate() {
        let (y0, y1) = ((k as f64 * row_h) as i32, ((k + 1) as f64 * row_h) as i32);
        let mid = (y0 + y1) / 2;
        match row {
            Row::Section(text) => {
                area.draw(&Rectangle::new(
                    [(0, y0), (w as i32, y1 - 1)],
                    UP.mix(0.12).filled(),
                ))?;
                area.draw_text(text, &th.bold(size).pos(left), (th.px(6.0), mid))?;
            }
            Row::Item(label, value) => {
                area.draw(&PathElement::new(
                    [(0, y1 - 1), (w as i32, y1 - 1)],
                    GRID.stroke_width(1),
                ))?;
                area.draw_text(label, &th.text(size).pos(left), (th.px(16.0), mid))?;
                area.draw_text(
                    value,
                    &th.text(size).pos(right),
                    (w as i32 - th.px(6.0), mid),
                )?;
            }
        }
    }
    Ok(())
}

/// The rows of the table.
fn rows(win: &Window) -> Vec<Row> {
    let mut rows = price_rows(win);
    let a = &win.blob.analysis;
    let q = &win.quote;
    if let Some(d1) = a.details.first() {
        let abs: Vec<f64> = d1.iter().map(|d| d.abs()).collect();
        let (_, max_abs) = extent(&[&abs]);
        let sigma = measures::std(d1);
        // Decimals follow σ, so a mean of 1e-13 reads as 0.00, not as noise digits.
        let v = |x: f64| format!("{} {q}", format::num(x, format::sig_decimals(sigma)));
        rows.push(Row::Section(format!("Finest detail D1 ({})", win.band(1))));
        rows.push(Row::Item("mean", v(measures::mean(d1))));
        rows.push(Row::Item("σ", v(sigma)));
        rows.push(Row::Item("median |D1|", v(measures::median(&abs))));
        rows.push(Row::Item("max |D1|", v(max_abs)));
    }
    let an = &a.anomalies;
    let n = win.len() as f64;
    rows.push(Row::Section("Anomalies".to_owned()));
    rows.push(Row::Item("count", an.indices.len().to_string()));
    rows.push(Row::Item(
        "share of candles",
        format!("{:.2} %", an.indices.len() as f64 / n * 100.0),
    ));
    rows.push(Row::Item(
        "threshold",
        format!("{} {q}", format::sig(an.threshold)),
    ));
    let s = &a.signals;
    rows.push(Row::Section(format!("Signals (trend S{})", s.trend_level)));
    let pct = |c: u32| format!("{c} ({:.1} %)", f64::from(c) / n * 100.0);
    rows.push(Row::Item("BUY candles", pct(s.buy)));
    rows.push(Row::Item("SELL candles", pct(s.sell)));
    rows.push(Row::Item("HOLD candles", pct(s.hold)));
    rows.push(Row::Item(
        "buffer",
        format!("± {} {q}", win.price(s.buffer)),
    ));
    rows
}

/// The price section.
fn price_rows(win: &Window) -> Vec<Row> {
    let c = win.blob.candles;
    let q = &win.quote;
    let (lo, hi) = extent(&[c.close]);
    let (first, last) = (c.open[0], c.close[c.close.len() - 1]);
    let change = if first != 0.0 {
        (last / first - 1.0) * 100.0
    } else {
        0.0
    };
    let volume: f64 = c.volume.iter().sum();
    vec![
        Row::Section("Price".to_owned()),
        Row::Item("last close", format!("{} {q}", win.price(last))),
        Row::Item(
            "lowest – highest close",
            format!("{} – {}", win.price(lo), win.price(hi)),
        ),
        Row::Item("change over the window", format!("{change:+.2} %")),
        Row::Item(
            "σ of close",
            format!("{} {q}", win.price(measures::std(c.close))),
        ),
        Row::Item(
            "volume",
            format!("{} {}", format::compact(volume), win.base),
        ),
    ]
}
