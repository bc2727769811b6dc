//! Building blocks of a panel on the shared time axis: a heading line with the panel's
//! title, its legend and a note (kept outside the plot so they never cover data), the
//! chart itself with fixed-width label areas so stacked panels line up, and lines that
//! break at gaps in time instead of bridging them.

use std::ops::Range;
use std::rc::Rc;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::TimeAxis;
use super::format;
use super::theme::{self, Theme};
use super::window::Window;
use crate::error::RenderError;

/// Width of the y-label area left of every panel, base pixels.
pub(crate) const Y_AREA: f64 = 92.0;
/// Height of a heading line, base pixels.
const HEADING: f64 = 22.0;

/// A chart on the time axis.
pub(crate) type TimeChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TimeAxis, RangedCoordf64>>;

/// What a legend entry looks like.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Swatch {
    /// A solid line.
    Line(RGBAColor),
    /// A dashed line.
    Dashed(RGBAColor),
    /// A filled box.
    Fill(RGBAColor),
    /// A round marker.
    Dot(RGBAColor),
    /// An upward triangle.
    Up(RGBAColor),
    /// A downward triangle.
    Down(RGBAColor),
}

/// A legend entry.
pub(crate) struct Legend {
    pub(crate) swatch: Swatch,
    pub(crate) text: String,
}

impl Legend {
    /// An entry with `swatch` and `text`.
    pub(crate) fn new(swatch: Swatch, text: impl Into<String>) -> Self {
        Self {
            swatch,
            text: text.into(),
        }
    }
}

/// Draws a heading (bold title, then the legend; `note` right-aligned) on top of `area`
/// and returns the area below it. Legend entries that would run past the right edge go
/// on the next line, from the title's left edge; a note that would run into the legend
/// goes on a line of its own, cut short with "…" if it is wider than the heading. At
/// the default sizes every heading is one or two lines.
pub(crate) fn heading<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    th: Theme,
    title: &str,
    legend: &[Legend],
    note: &str,
) -> Result<DrawingArea<DB, Shift>, RenderError> {
    let (w, _) = area.dim_in_pixel();
    let start = th.px(Y_AREA * 0.35);
    let end = w as i32 - th.px(4.0);
    let mut x = start + area.estimate_text_size(title, &th.bold(13.0))?.0 as i32 + th.px(18.0);
    let mut line = 0;
    let mut items = Vec::with_capacity(legend.len());
    for item in legend {
        let width = th.px(24.0) + area.estimate_text_size(&item.text, &th.text(12.0))?.0 as i32;
        if x + width > end && x > start {
            line += 1;
            x = start;
        }
        items.push((item, x, line));
        x += width + th.px(16.0);
    }
    let note_width = area.estimate_text_size(note, &th.muted(12.0))?.0 as i32;
    let note_line = if !note.is_empty() && x + note_width > end {
        line + 1
    } else {
        line
    };
    let (head, body) = area.split_vertically(th.upx(HEADING * f64::from(note_line + 1)));
    let mid = |line: i32| th.px(HEADING / 2.0) + line * th.px(HEADING);
    let left = Pos::new(HPos::Left, VPos::Center);
    head.draw_text(title, &th.bold(13.0).pos(left), (start, mid(0)))?;
    for (item, at, line) in items {
        swatch(&head, th, item.swatch, (at, mid(line)))?;
        head.draw_text(
            &item.text,
            &th.text(12.0).pos(left),
            (at + th.px(24.0), mid(line)),
        )?;
    }
    let right = Pos::new(HPos::Right, VPos::Center);
    let style = th.muted(12.0).pos(right);
    draw_fitted(&head, note, &style, end - start, (end, mid(note_line)))?;
    Ok(body)
}

/// Draws `text` in `style` at `at`, [`fitted`] to `width` pixels.
pub(crate) fn draw_fitted<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    width: i32,
    at: (i32, i32),
) -> Result<(), RenderError> {
    area.draw_text(&fitted(area, text, style, width)?, style, at)?;
    Ok(())
}

/// `text` as drawn in `style` within `width` pixels: whole if it fits, otherwise its
/// longest beginning that fits with "…" after it (on a narrow chart), or nothing if not
/// even "…" fits.
fn fitted<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    width: i32,
) -> Result<String, RenderError> {
    let fits = |t: &str| -> Result<bool, RenderError> {
        Ok(area.estimate_text_size(t, style)?.0 as i32 <= width)
    };
    if text.is_empty() || fits(text)? {
        return Ok(text.to_owned());
    }
    let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let cut = |n: usize| format!("{}…", text[..ends[n]].trim_end());
    if !fits(&cut(0))? {
        return Ok(String::new());
    }
    // The most characters that fit, by bisection: `lo` fits (or is none), `hi` not.
    let (mut lo, mut hi) = (0, ends.len());
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fits(&cut(mid))? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(cut(lo))
}

/// Draws one legend swatch centred vertically at `at`, 18 base pixels wide.
fn swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    th: Theme,
    s: Swatch,
    (x, y): (i32, i32),
) -> Result<(), RenderError> {
    let (w, r) = (th.px(18.0), th.px(5.0));
    match s {
        Swatch::Line(c) => area.draw(&PathElement::new([(x, y), (x + w, y)], th.line(c, 2.0)))?,
        Swatch::Dashed(c) => {
            for k in 0..3 {
                let x0 = x + k * w / 3;
                area.draw(&PathElement::new(
                    [(x0, y), (x0 + w / 5, y)],
                    th.line(c, 2.0),
                ))?;
            }
        }
        Swatch::Fill(c) => area.draw(&Rectangle::new([(x, y - r), (x + w, y + r)], c.filled()))?,
        Swatch::Dot(c) => area.draw(&Circle::new((x + w / 2, y), r, c.filled()))?,
        Swatch::Up(c) => area.draw(&Polygon::new(up((x + w / 2, y), r), c.filled()))?,
        Swatch::Down(c) => area.draw(&Polygon::new(down((x + w / 2, y), r), c.filled()))?,
    }
    Ok(())
}

/// An upward triangle of radius `r` around `c`, in pixels.
pub(crate) fn up((x, y): (i32, i32), r: i32) -> Vec<(i32, i32)> {
    vec![(x - r, y + r), (x + r, y + r), (x, y - r)]
}

/// A downward triangle of radius `r` around `c`, in pixels.
pub(crate) fn down((x, y): (i32, i32), r: i32) -> Vec<(i32, i32)> {
    vec![(x - r, y - r), (x + r, y - r), (x, y + r)]
}

/// How a time chart's axes look.
pub(crate) struct Axes<'s> {
    /// Value range.
    pub(crate) y: Range<f64>,
    /// Value axis description, with unit.
    pub(crate) y_desc: &'s str,
    /// Whether this panel shows the time labels (the bottom panel of a stack does).
    pub(crate) time_labels: bool,
    /// Width reserved right of the plot for a secondary axis, base pixels.
    pub(crate) right: f64,
    /// Whether value labels are compact (`12.3k`), for volumes.
    pub(crate) compact: bool,
}

impl<'s> Axes<'s> {
    /// Axes over `y` described by `y_desc`, without time labels.
    pub(crate) fn new(y: Range<f64>, y_desc: &'s str) -> Self {
        Self {
            y,
            y_desc,
            time_labels: false,
            right: 0.0,
            compact: false,
        }
    }

    /// The same axes with time labels under the panel.
    pub(crate) fn with_time(self) -> Self {
        Self {
            time_labels: true,
            ..self
        }
    }
}

/// Builds a time chart on `area` and draws its mesh.
pub(crate) fn time_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    win: &Window,
    axes: &Axes,
) -> Result<TimeChart<'a, DB>, RenderError> {
    let (mut chart, axis) = build(area, win, axes, false)?;
    mesh(&mut chart, win, axes, &axis)?;
    Ok(chart)
}

/// Builds a time chart on `area` without drawing its mesh, and returns it with its
/// time axis. With `secondary`, the space on the right is a label area for a second
/// value axis (set it before drawing the mesh, or plotters labels the primary axis
/// there too); otherwise it is an empty margin.
pub(crate) fn build<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    win: &Window,
    axes: &Axes,
    secondary: bool,
) -> Result<(TimeChart<'a, DB>, TimeAxis), RenderError> {
    let th = win.theme;
    let (width, _) = area.dim_in_pixel();
    let axis = win.axis_for(f64::from(width) - f64::from(th.px(Y_AREA + axes.right)));
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_top(th.px(4.0))
        .x_label_area_size(if axes.time_labels { th.upx(34.0) } else { 0 })
        .y_label_area_size(th.upx(Y_AREA));
    if secondary {
        builder.right_y_label_area_size(th.upx(axes.right));
    } else {
        // Room for the last time label, which is centred on the right edge.
        builder.margin_right(th.upx(axes.right.max(20.0)));
    }
    let chart = builder.build_cartesian_2d(axis.clone(), axes.y.clone())?;
    Ok((chart, axis))
}

/// Draws the grid, ticks and labels of a time chart built by [`build`].
pub(crate) fn mesh<DB: DrawingBackend>(
    chart: &mut TimeChart<DB>,
    win: &Window,
    axes: &Axes,
    axis: &TimeAxis,
) -> Result<(), RenderError> {
    let th = win.theme;
    let span = axes.y.end - axes.y.start;
    let decimals = format::tick_decimals(span / 6.0);
    let compact = axes.compact;
    let y_fmt = |v: &f64| {
        if compact {
            format::compact(*v)
        } else {
            format::num(*v, decimals)
        }
    };
    let x_fmt = |t: &f64| axis.label(*t);
    let caption = if axes.time_labels {
        win.time_caption()
    } else {
        String::new()
    };
    chart
        .configure_mesh()
        .bold_line_style(theme::GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(theme::MUTED.stroke_width(1))
        .y_labels(6)
        .x_labels(40)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(th.text(11.0))
        .axis_desc_style(th.text(12.0))
        .y_desc(axes.y_desc)
        .x_desc(caption)
        .draw()?;
    Ok(())
}

/// `lo..hi` padded by 6 % of the span, or around the value when the span is zero.
pub(crate) fn padded(lo: f64, hi: f64) -> Range<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        let pad = if lo.abs() > 0.0 { lo.abs() * 0.01 } else { 1.0 };
        return lo - pad..lo + pad;
    }
    lo - span * 0.06..hi + span * 0.06
}

/// Draws `ys` against the candle times, broken at gaps in time.
pub(crate) fn line<DB: DrawingBackend>(
    chart: &mut TimeChart<DB>,
    win: &Window,
    ys: &[f64],
    style: ShapeStyle,
) -> Result<(), RenderError> {
    for run in &win.runs {
        match thinned_series(chart, win, ys, run.clone()) {
            Some(thinned) => thick(chart, thinned, style)?,
            None => {
                let points = run.clone().map(|i| (win.t[i], ys[i]));
                chart.draw_series(LineSeries::new(points, style))?;
            }
        }
    }
    Ok(())
}

/// Draws a line through the `len` points of one run, each a candle's index and value.
/// In a raster image a line of more points than its pixel columns is thinned to what
/// they show ([`thin::m4`](super::thin::m4)): a one-pixel line draws the same pixels, a
/// thicker one is drawn as the segments between the points kept, which differs from
/// the whole path only along its ragged edge (the tests in `thin` measure it), in a
/// fraction of the time and memory (a 4800 px chart of a million candles: 30 s before).
/// An SVG keeps every point, for whoever zooms in.
pub(crate) fn path<DB: DrawingBackend, I: Iterator<Item = (usize, f64)>>(
    chart: &mut TimeChart<DB>,
    win: &Window,
    len: usize,
    points: impl Fn() -> I,
    style: ShapeStyle,
) -> Result<(), RenderError> {
    if let Some(columns) = thinning(chart, win, len) {
        let thinned = super::thin::m4(points().map(|(i, y)| (columns[i], (win.t[i], y))));
        thick(chart, thinned, style)
    } else {
        let points = points().map(|(i, y)| (win.t[i], y));
        chart.draw_series(LineSeries::new(points, style))?;
        Ok(())
    }
}

/// The pixel columns of the candles ([`columns`]) if a series of `len` points on
/// `chart` is thinned: in a raster image, when it has more points than four a pixel
/// column.
fn thinning<DB: DrawingBackend>(
    chart: &TimeChart<DB>,
    win: &Window,
    len: usize,
) -> Option<Rc<[i32]>> {
    let width = chart.plotting_area().dim_in_pixel().0 as usize;
    (win.raster && len > 4 * width).then(|| columns(chart, win))
}

/// The points of `ys` over the candles of `run` that a raster chart's pixel columns show
/// ([`thin::m4_series`](super::thin::m4_series)), or `None` when the run is drawn whole
/// ([`thinning`]).
fn thinned_series<DB: DrawingBackend>(
    chart: &TimeChart<DB>,
    win: &Window,
    ys: &[f64],
    run: Range<usize>,
) -> Option<Vec<(f64, f64)>> {
    let columns = thinning(chart, win, run.len())?;
    Some(super::thin::m4_series(
        &columns[run.clone()],
        &win.t[run.clone()],
        &ys[run],
    ))
}

/// Draws the points of a thinned line: one path if it is one pixel wide, else the
/// segments between them ([`path`] says why).
fn thick<DB: DrawingBackend>(
    chart: &mut TimeChart<DB>,
    thinned: Vec<(f64, f64)>,
    style: ShapeStyle,
) -> Result<(), RenderError> {
    if style.stroke_width == 1 {
        chart.draw_series(LineSeries::new(thinned, style))?;
    } else {
        let segments = thinned
            .windows(2)
            .map(|w| PathElement::new([w[0], w[1]], style));
        chart.draw_series(segments)?;
    }
    Ok(())
}

/// Fills between `ys` and `base`, broken at gaps in time.
pub(crate) fn area<DB: DrawingBackend>(
    chart: &mut TimeChart<DB>,
    win: &Window,
    ys: &[f64],
    base: f64,
    colour: RGBAColor,
) -> Result<(), RenderError> {
    for run in win.runs.iter().filter(|r| !r.is_empty()) {
        let ends = [(win.t[run.end - 1], base), (win.t[run.start], base)];
        let kept = series_vertices(chart, win, ys, run.clone(), &ends);
        chart.draw_series(AreaSeries::new(kept, base, colour.filled()))?;
    }
    Ok(())
}

/// Fills between the `len` points of one run (each a candle's index and value) and
/// `base`, thinned as [`vertices`] does.
pub(crate) fn fill<DB: DrawingBackend, I: Iterator<Item = (usize, f64)>>(
    chart: &mut TimeChart<DB>,
    win: &Window,
    len: usize,
    points: impl Fn() -> I,
    base: f64,
    colour: RGBAColor,
) -> Result<(), RenderError> {
    let ends = match (points().next(), points().last()) {
        (Some((first, _)), Some((last, _))) => [(win.t[last], base), (win.t[first], base)],
        _ => return Ok(()),
    };
    let kept = vertices(chart, win, len, points, &ends);
    chart.draw_series(AreaSeries::new(kept, base, colour.filled()))?;
    Ok(())
}

/// The `len` vertices of a filled shape on `chart` (each a candle's index and value),
/// of which `extra` are added when it is drawn (an area's base). In a raster image,
/// more vertices than the chart's pixel columns show are thinned where that fills the
/// same pixels ([`thin::polygon`](super::thin::polygon)); an SVG keeps them all.
pub(crate) fn vertices<DB: DrawingBackend, I: Iterator<Item = (usize, f64)>>(
    chart: &TimeChart<DB>,
    win: &Window,
    len: usize,
    vertices: impl Fn() -> I,
    extra: &[(f64, f64)],
) -> Vec<(f64, f64)> {
    if let Some(columns) = thinning(chart, win, len) {
        let placed = || vertices().map(|(i, y)| (columns[i], (win.t[i], y)));
        super::thin::polygon(placed, extra, |p| chart.backend_coord(&p))
    } else {
        vertices().map(|(i, y)| (win.t[i], y)).collect()
    }
}

/// [`vertices`] of the points `(i, ys[i])` for the candles `i` of `run`, thinned
/// through [`thin::m4_series`](super::thin::m4_series).
pub(crate) fn series_vertices<DB: DrawingBackend>(
    chart: &TimeChart<DB>,
    win: &Window,
    ys: &[f64],
    run: Range<usize>,
    extra: &[(f64, f64)],
) -> Vec<(f64, f64)> {
    let whole = || run.clone().map(|i| (win.t[i], ys[i])).collect();
    match thinned_series(chart, win, ys, run.clone()) {
        Some(thinned) => {
            super::thin::polygon_of(thinned, extra, |p| chart.backend_coord(&p), whole)
        }
        None => whole(),
    }
}

/// The pixel column of every candle on `chart` ([`Window::columns`]).
fn columns<DB: DrawingBackend>(chart: &TimeChart<DB>, win: &Window) -> Rc<[i32]> {
    win.columns(chart.x_range(), |t| chart.backend_coord(&(t, 0.0)).0)
}

/// A horizontal line at `y` across the window, dashed if `dashed`.
pub(crate) fn level<DB: DrawingBackend>(
    chart: &mut TimeChart<DB>,
    y: f64,
    style: ShapeStyle,
    dashed: bool,
) -> Result<(), RenderError> {
    let x = chart.x_range();
    let ends = [(x.start, y), (x.end, y)];
    if dashed {
        chart.draw_series(DashedLineSeries::new(ends, 8, 5, style))?;
    } else {
        chart.draw_series(LineSeries::new(ends, style))?;
    }
    Ok(())
}

/// A horizontal band from `lo` to `hi` across the window.
pub(crate) fn band<DB: DrawingBackend>(
    chart: &mut TimeChart<DB>,
    lo: f64,
    hi: f64,
    colour: RGBAColor,
) -> Result<(), RenderError> {
    let x = chart.x_range();
    chart.draw_series([Rectangle::new(
        [(x.start, lo), (x.end, hi)],
        colour.filled(),
    )])?;
    Ok(())
}
