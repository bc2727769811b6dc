//! The frame around every chart: a title naming symbol, interval and chart, a subtitle
//! with the window's dates and source, and a small footer saying which backend and
//! device produced the analysis and with which parameters, so an image shared on its
//! own still says what it shows.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use waveplot_protocol::PlotId;

use super::format;
use super::panel;
use super::window::Window;
use crate::error::RenderError;

/// Draws the title and footer and returns the area left for the chart's panels.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    win: &Window,
    plot: PlotId,
) -> Result<DrawingArea<DB, Shift>, RenderError> {
    let th = win.theme;
    let (_, height) = root.dim_in_pixel();
    let (head, rest) = root.split_vertically(th.upx(56.0));
    let (body, foot) = rest.split_vertically(height.saturating_sub(th.upx(56.0 + 20.0)));
    let h = &win.blob.header;
    let title = format!("{} · {} · {}", h.symbol.as_str(), h.interval, plot.title());
    let pad = th.px(14.0);
    let (w, _) = foot.dim_in_pixel();
    let room = w as i32 - 2 * pad;
    panel::draw_fitted(&head, &title, &th.bold(20.0), room, (pad, th.px(8.0)))?;
    let subtitle = format!(
        "{} – {} {}  ·  {} candles  ·  {}",
        win.datetime_ms(h.first_open_ms),
        win.datetime_ms(h.last_open_ms),
        win.zone,
        h.candles,
        h.source_label
    );
    panel::draw_fitted(&head, &subtitle, &th.muted(13.0), room, (pad, th.px(34.0)))?;
    let style = th.muted(11.0);
    let brand = "waveplot";
    let brand_width = foot.estimate_text_size(brand, &style)?.0 as i32 + th.px(12.0);
    let footer_room = room - brand_width;
    panel::draw_fitted(&foot, &footer(win), &style, footer_room, (pad, th.px(3.0)))?;
    let right = Pos::new(HPos::Right, VPos::Top);
    foot.draw_text(brand, &style.pos(right), (w as i32 - pad, th.px(3.0)))?;
    Ok(body.margin(0, 0, th.px(6.0), th.px(14.0)))
}

/// The footer line: backend, device, parameters, and anything unusual about the window.
fn footer(win: &Window) -> String {
    let h = &win.blob.header;
    let p = &h.params;
    let mut text = format!(
        "analysis: {} on {} · {} wavelet, {} mode, {} MRA · {} of {} levels · anomaly k = {}",
        h.backend,
        h.device,
        p.wavelet,
        p.mode,
        p.mra,
        h.levels_used,
        h.levels_requested,
        format::num(win.blob.analysis.anomalies.k, 1).trim_end_matches(".0"),
    );
    if h.missing_candles > 0 {
        text += &format!(" · {} candles missing (gaps left open)", h.missing_candles);
    }
    if let Some(note) = &h.level_note {
        text += &format!(" · {note}");
    }
    text
}
