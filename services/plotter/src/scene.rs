//! Charts as scenes ([`Scene`]): drawn once onto a [`Recorder`], which keeps the
//! operations plotters hands a bitmap backend instead of setting pixels, and replayed
//! onto pixels ([`replay`]) as often as wanted. A replayed scene sets every pixel as
//! drawing the chart on pixels does: the recorder answers text measurements exactly as
//! the bitmap backend does, and every operation goes to the same backend with the same
//! arguments, in the same order.
//!
//! One thing is not kept one for one. A line series thinned to its pixel columns is a
//! few points a column, but the overview's high–low band is one translucent line a
//! candle: a million of them for a million candles. Consecutive one-pixel vertical
//! lines of one translucent colour each blend every pixel they cover once, with the
//! same function of its colour, so their order does not matter, only how often each
//! pixel is covered; and after a few blends a pixel's colour stops changing (the
//! blend rounds to whole values). They are kept as runs that cover each pixel as
//! often as the lines did, or as often as still changes its colour
//! ([`Op::Runs`]): at most that many runs a column. A narrow filled rectangle of a
//! translucent colour blends its pixels as those lines do, and is gathered with them
//! (chart 04 shades each BUY and SELL stretch, a hundred thousand of them for a
//! million candles of a random walk).

use std::cell::RefCell;
use std::rc::Rc;

use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontFamily,
    FontStyle, FontTransform,
};
use waveplot_protocol::scene::{
    Across, Along, Colour, Font, FontStyle as SceneFontStyle, Op, Run, Stroke, Turn,
};
use waveplot_protocol::{PlotId, Scene};

use crate::bitmap::Bitmap;
use crate::error::RenderError;

/// Blends after which no colour changes any more, tried before giving up on capping
/// the runs (then every line is kept as a run of its own).
const MAX_BLENDS: u32 = 64;

/// The widest translucent filled rectangle, in pixels, that the recorder gathers as
/// one-pixel lines. The bitmap backend blends a row of a rectangle eight pixels at a
/// time and the rest one by one, and the two round a darkening blend differently; a
/// row of at most eight pixels is blended one by one, as a one-pixel line is.
const NARROW_PIXELS: usize = 8;

/// Why the recorder could not keep an operation.
#[derive(Debug, thiserror::Error)]
#[error("a scene cannot record {0}")]
pub(crate) struct Unrecordable(&'static str);

/// A drawing backend that records what is drawn on it as a [`Scene`]. Its clones
/// share one recording: plotters keeps the backend it draws on, so the caller keeps a
/// clone to [`finish`](Recorder::finish).
#[derive(Clone)]
pub(crate) struct Recorder(Rc<RefCell<Recording>>);

/// What a [`Recorder`] has recorded.
struct Recording {
    scene: Scene,
    /// Consecutive one-pixel vertical lines of one translucent colour, as
    /// `(x, top, bottom)` rows `top..bottom`, not yet turned into runs.
    lines: Option<(Colour, Vec<Run>)>,
}

impl Recorder {
    /// A recorder of chart `plot` on a `width`×`height` canvas.
    pub(crate) fn new(plot: PlotId, (width, height): (u32, u32)) -> Self {
        Self(Rc::new(RefCell::new(Recording {
            scene: Scene {
                plot,
                width,
                height,
                ops: Vec::new(),
            },
            lines: None,
        })))
    }

    /// The scene recorded so far, taken from every clone.
    pub(crate) fn finish(self) -> Scene {
        let mut recording = self.0.borrow_mut();
        recording.flush();
        let (width, height) = (recording.scene.width, recording.scene.height);
        let empty = Scene {
            plot: recording.scene.plot,
            width,
            height,
            ops: Vec::new(),
        };
        std::mem::replace(&mut recording.scene, empty)
    }

    /// Records `op`.
    fn push(&self, op: Op) {
        self.0.borrow_mut().push(op);
    }

    /// Records a line.
    fn line(&self, from: BackendCoord, to: BackendCoord, stroke: Stroke) {
        self.0.borrow_mut().line(from, to, stroke);
    }
}

impl Recording {
    /// Records `op`, after the lines gathered so far.
    fn push(&mut self, op: Op) {
        self.flush();
        self.scene.ops.push(op);
    }

    /// Records a line from `from` to `to`: gathered with the lines before it if it is
    /// a one-pixel vertical line of their translucent colour (the rows the bitmap
    /// backend blends for it), otherwise as it is.
    fn line(&mut self, from: BackendCoord, to: BackendCoord, stroke: Stroke) {
        let alpha = stroke.colour.alpha;
        if from.0 != to.0 || stroke.width != 1 || !(alpha > 0.0 && alpha < 1.0) {
            self.push(Op::Line(from, to, stroke));
            return;
        }
        let rows = (from.1.min(to.1 + 1), from.1.max(to.1 + 1));
        self.gather(stroke.colour, (from.0, rows.0, rows.1));
    }

    /// Records a rectangle: a filled one of a translucent colour at most
    /// [`NARROW_PIXELS`] wide on the canvas is gathered as the one-pixel vertical lines
    /// it blends (one a column, every row it covers), otherwise it is kept as it is.
    fn rect(&mut self, corner: BackendCoord, opposite: BackendCoord, stroke: Stroke, fill: bool) {
        let alpha = stroke.colour.alpha;
        // The columns and rows the bitmap backend blends for it.
        let columns =
            corner.0.min(opposite.0).max(0)..corner.0.max(opposite.0).min(self.scene.width as i32);
        let rows = (corner.1.min(opposite.1), corner.1.max(opposite.1));
        if !(fill && alpha > 0.0 && alpha < 1.0) || columns.len() > NARROW_PIXELS {
            self.push(Op::Rect(corner, opposite, stroke, fill));
            return;
        }
        for x in columns {
            self.gather(stroke.colour, (x, rows.0, rows.1));
        }
    }

    /// Adds a one-pixel vertical line `(x, top, bottom)` of translucent `colour` to the
    /// lines gathered, after recording those of another colour.
    fn gather(&mut self, colour: Colour, line: Run) {
        match &mut self.lines {
            Some((gathered, lines)) if *gathered == colour => lines.push(line),
            _ => {
                self.flush();
                self.lines = Some((colour, vec![line]));
            }
        }
    }

    /// Turns the gathered lines into runs ([module docs](self)).
    fn flush(&mut self) {
        let Some((colour, mut lines)) = self.lines.take() else {
            return;
        };
        let runs = match blends_that_count(colour) {
            Some(cap) => capped_runs(&mut lines, cap, self.scene.width, self.scene.height),
            None => lines,
        };
        self.scene.ops.push(Op::Runs(runs, colour));
    }
}

/// Runs that cover each pixel of `lines` (`(x, top, bottom)`) as often as they do,
/// at most `cap` times, on a `width`×`height` canvas (outside it, nothing is drawn).
fn capped_runs(lines: &mut [Run], cap: u32, width: u32, height: u32) -> Vec<Run> {
    lines.sort_unstable_by_key(|l| l.0);
    let rows = height as usize;
    let mut coverage = vec![0i32; rows + 1];
    let mut runs = Vec::new();
    for column in lines.chunk_by(|a, b| a.0 == b.0) {
        let x = column[0].0;
        if !(0..width as i32).contains(&x) {
            continue;
        }
        let clamped = |row: i32| row.clamp(0, rows as i32) as usize;
        // Only the rows this column's lines touch: a column of a thin line covers a few
        // of them, and a tall canvas has hundreds.
        let lo = column.iter().map(|l| clamped(l.1)).min().unwrap_or(0);
        let hi = column.iter().map(|l| clamped(l.2)).max().unwrap_or(0);
        if lo >= hi {
            continue;
        }
        coverage[lo..=hi].fill(0);
        for &(_, top, bottom) in column {
            let (top, bottom) = (clamped(top), clamped(bottom));
            if top < bottom {
                coverage[top] += 1;
                coverage[bottom] -= 1;
            }
        }
        let mut count = 0;
        let counts: Vec<u32> = coverage[lo..hi]
            .iter()
            .map(|d| {
                count += d;
                (count as u32).min(cap)
            })
            .collect();
        let most = counts.iter().copied().max().unwrap_or(0);
        for level in 1..=most {
            let mut start = None;
            for (y, &c) in (lo..).zip(counts.iter().chain([&0])) {
                match (c >= level, start) {
                    (true, None) => start = Some(y),
                    (false, Some(s)) => {
                        runs.push((x, s as i32, y as i32));
                        start = None;
                    }
                    _ => {}
                }
            }
        }
    }
    runs
}

/// How many blends of `colour` can still change a pixel: the least `n` after which a
/// further blend changes no pixel value, found with the bitmap backend's own blend on
/// every value; `None` when there is none within [`MAX_BLENDS`].
fn blends_that_count(colour: Colour) -> Option<u32> {
    // One pixel a row, as a one-pixel vertical line blends them; row `v` starts at `v`.
    let mut rgb: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
    let style = RGBAColor(colour.rgb.0, colour.rgb.1, colour.rgb.2, colour.alpha);
    for n in 0..=MAX_BLENDS {
        let before = rgb.clone();
        BitMapBackend::with_buffer(&mut rgb, (1, 256))
            .draw_line((0, 0), (0, 255), &style)
            .ok()?;
        if rgb == before {
            return Some(n);
        }
    }
    None
}

/// A colour as plotters gives it.
fn colour(c: BackendColor) -> Colour {
    Colour {
        rgb: c.rgb,
        alpha: c.alpha,
    }
}

/// A stroke as plotters gives it.
fn stroke<S: BackendStyle>(style: &S) -> Stroke {
    Stroke {
        colour: colour(style.color()),
        width: style.stroke_width(),
    }
}

/// A text style as plotters gives it.
fn font<S: BackendTextStyle>(style: &S) -> Font {
    let anchor = style.anchor();
    Font {
        family: style.family().as_str().to_owned(),
        size: style.size(),
        style: match style.style() {
            FontStyle::Normal => SceneFontStyle::Normal,
            FontStyle::Oblique => SceneFontStyle::Oblique,
            FontStyle::Italic => SceneFontStyle::Italic,
            FontStyle::Bold => SceneFontStyle::Bold,
        },
        turn: match style.transform() {
            FontTransform::None => Turn::None,
            FontTransform::Rotate90 => Turn::Rotate90,
            FontTransform::Rotate180 => Turn::Rotate180,
            FontTransform::Rotate270 => Turn::Rotate270,
        },
        anchor: (
            match anchor.h_pos {
                HPos::Left => Across::Left,
                HPos::Right => Across::Right,
                HPos::Center => Across::Center,
            },
            match anchor.v_pos {
                VPos::Top => Along::Top,
                VPos::Center => Along::Center,
                VPos::Bottom => Along::Bottom,
            },
        ),
        colour: colour(style.color()),
    }
}

type Recorded = Result<(), DrawingErrorKind<Unrecordable>>;

impl DrawingBackend for Recorder {
    type ErrorType = Unrecordable;

    fn get_size(&self) -> (u32, u32) {
        let scene = &self.0.borrow().scene;
        (scene.width, scene.height)
    }

    fn ensure_prepared(&mut self) -> Recorded {
        Ok(())
    }

    fn present(&mut self) -> Recorded {
        Ok(())
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Recorded {
        self.push(Op::Pixel(point, colour(color)));
        Ok(())
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Recorded {
        self.line(from, to, stroke(style));
        Ok(())
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Recorded {
        self.0
            .borrow_mut()
            .rect(upper_left, bottom_right, stroke(style), fill);
        Ok(())
    }

    /// A path of two points is a line (which is how the bitmap backend draws a
    /// one-pixel path, segment by segment); a path of no colour draws nothing.
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Recorded {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let points: Vec<BackendCoord> = path.into_iter().collect();
        match points[..] {
            [from, to] if style.stroke_width() == 1 => self.line(from, to, stroke(style)),
            _ => self.push(Op::Path(points, stroke(style))),
        }
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Recorded {
        self.push(Op::Circle(center, radius, stroke(style), fill));
        Ok(())
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Recorded {
        self.push(Op::Polygon(vert.into_iter().collect(), stroke(style)));
        Ok(())
    }

    /// A text of no colour draws nothing.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Recorded {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        self.push(Op::Text(text.to_owned(), font(style), pos));
        Ok(())
    }

    /// What the bitmap backend answers ([`Bitmap`]), which does not depend on its size.
    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Unrecordable>> {
        let mut pixel = [0u8; 3];
        Bitmap(BitMapBackend::with_buffer(&mut pixel, (1, 1)))
            .estimate_text_size(text, style)
            .map_err(|e| match e {
                DrawingErrorKind::FontError(e) => DrawingErrorKind::FontError(e),
                DrawingErrorKind::DrawingError(_) => {
                    DrawingErrorKind::DrawingError(Unrecordable("a text measurement"))
                }
            })
    }

    fn blit_bitmap(&mut self, _: BackendCoord, _: (u32, u32), _: &[u8]) -> Recorded {
        Err(DrawingErrorKind::DrawingError(Unrecordable("a bitmap")))
    }
}

/// A recorded stroke, as plotters takes it.
struct Style(Stroke);

impl BackendStyle for Style {
    fn color(&self) -> BackendColor {
        backend_colour(self.0.colour)
    }

    fn stroke_width(&self) -> u32 {
        self.0.width
    }
}

fn backend_colour(c: Colour) -> BackendColor {
    BackendColor {
        alpha: c.alpha,
        rgb: c.rgb,
    }
}

/// The text style a recorded font stands for.
fn text_style(f: &Font) -> TextStyle<'_> {
    let style = match f.style {
        SceneFontStyle::Normal => FontStyle::Normal,
        SceneFontStyle::Oblique => FontStyle::Oblique,
        SceneFontStyle::Italic => FontStyle::Italic,
        SceneFontStyle::Bold => FontStyle::Bold,
    };
    let turn = match f.turn {
        Turn::None => FontTransform::None,
        Turn::Rotate90 => FontTransform::Rotate90,
        Turn::Rotate180 => FontTransform::Rotate180,
        Turn::Rotate270 => FontTransform::Rotate270,
    };
    let pos = Pos::new(
        match f.anchor.0 {
            Across::Left => HPos::Left,
            Across::Right => HPos::Right,
            Across::Center => HPos::Center,
        },
        match f.anchor.1 {
            Along::Top => VPos::Top,
            Along::Center => VPos::Center,
            Along::Bottom => VPos::Bottom,
        },
    );
    TextStyle {
        font: FontDesc::new(FontFamily::from(f.family.as_str()), f.size, style).transform(turn),
        color: backend_colour(f.colour),
        pos,
    }
}

/// Draws `scene` on `backend`, a white canvas of the scene's size.
pub(crate) fn replay<DB: DrawingBackend>(
    backend: &mut DB,
    scene: &Scene,
) -> Result<(), RenderError> {
    let failed = |e: DrawingErrorKind<DB::ErrorType>| RenderError::Draw(e.to_string());
    for op in &scene.ops {
        match op {
            Op::Pixel(at, c) => backend.draw_pixel(*at, backend_colour(*c)),
            Op::Line(from, to, s) => backend.draw_line(*from, *to, &Style(*s)),
            Op::Rect(a, b, s, fill) => backend.draw_rect(*a, *b, &Style(*s), *fill),
            Op::Path(points, s) => backend.draw_path(points.iter().copied(), &Style(*s)),
            Op::Circle(c, r, s, fill) => backend.draw_circle(*c, *r, &Style(*s), *fill),
            Op::Polygon(points, s) => backend.fill_polygon(points.iter().copied(), &Style(*s)),
            Op::Text(text, f, at) => backend.draw_text(text, &text_style(f), *at),
            Op::Runs(runs, c) => {
                let style = Style(Stroke {
                    colour: *c,
                    width: 1,
                });
                runs.iter()
                    .filter(|(_, top, bottom)| top < bottom)
                    .try_for_each(|&(x, top, bottom)| {
                        backend.draw_line((x, top), (x, bottom - 1), &style)
                    })
            }
        }
        .map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pixels of `lines` drawn as one-pixel vertical lines of `c` on a white
    /// 64×400 canvas with a grey stripe, one by one on the bitmap backend or recorded
    /// and replayed.
    fn drawn(lines: &[Run], c: RGBAColor, recorded: bool) -> (Vec<u8>, usize) {
        let (w, h) = (64u32, 400u32);
        let mut rgb = vec![255u8; (w * h * 3) as usize];
        let mut ops = 0;
        {
            let mut bitmap = Bitmap(BitMapBackend::with_buffer(&mut rgb, (w, h)));
            let grey = RGBColor(90, 90, 90);
            bitmap.draw_rect((0, 150), (64, 170), &grey, true).unwrap();
            let draw = |b: &mut dyn FnMut((i32, i32), (i32, i32))| {
                for &(x, y0, y1) in lines {
                    b((x, y0), (x, y1));
                }
            };
            if recorded {
                let mut recorder = Recorder::new(PlotId::Overview, (w, h));
                draw(&mut |a, b| recorder.draw_path([a, b], &c).unwrap());
                let scene = recorder.finish();
                ops = match &scene.ops[..] {
                    [Op::Runs(runs, _)] => runs.len(),
                    other => panic!("{other:?}"),
                };
                replay(&mut bitmap, &scene).unwrap();
            } else {
                draw(&mut |a, b| bitmap.draw_path([a, b], &c).unwrap());
            }
        }
        (rgb, ops)
    }

    /// Whole numbers below `n`, from a xorshift generator seeded with `state`.
    fn xorshift(mut state: u64) -> impl FnMut(u64) -> i32 {
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as i32
        }
    }

    /// How many RGB pixels differ between `a` and `b`.
    fn differing(a: &[u8], b: &[u8]) -> usize {
        a.chunks(3).zip(b.chunks(3)).filter(|(a, b)| a != b).count()
    }

    /// Translucent filled rectangles, one to twenty pixels wide, corners either way
    /// round, some off the canvas: recorded and replayed, they blend every pixel as
    /// drawing them does, and the narrow ones are kept as runs.
    #[test]
    fn translucent_rectangles_recorded_draw_the_same_pixels() {
        let (w, h) = (64u32, 120u32);
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let rects: Vec<((i32, i32), (i32, i32))> = (0..3000)
            .map(|_| {
                let (x, y) = (next(80) - 8, next(140) - 10);
                let (x1, y1) = (x + next(20) + 1, y + next(60));
                if next(2) == 0 {
                    ((x, y), (x1, y1))
                } else {
                    ((x1, y1), (x, y))
                }
            })
            .collect();
        for c in [
            RGBColor(20, 150, 80).mix(0.08),
            RGBColor(200, 0, 0).mix(0.3),
        ] {
            let mut direct = vec![255u8; (w * h * 3) as usize];
            let mut replayed = direct.clone();
            let mut bitmap = Bitmap(BitMapBackend::with_buffer(&mut direct, (w, h)));
            let mut recorder = Recorder::new(PlotId::Signals, (w, h));
            for &(a, b) in &rects {
                bitmap.draw_rect(a, b, &c, true).unwrap();
                recorder.draw_rect(a, b, &c, true).unwrap();
            }
            drop(bitmap);
            let scene = recorder.finish();
            replay(
                &mut Bitmap(BitMapBackend::with_buffer(&mut replayed, (w, h))),
                &scene,
            )
            .unwrap();
            let differing = differing(&direct, &replayed);
            assert_eq!(differing, 0, "alpha {}: {differing} pixels differ", c.3);
            let runs = scene
                .ops
                .iter()
                .filter(|op| matches!(op, Op::Runs(..)))
                .count();
            let kept = scene
                .ops
                .iter()
                .filter(|op| matches!(op, Op::Rect(..)))
                .count();
            assert!(
                runs > 0 && kept > 0 && kept < rects.len(),
                "{runs} runs, {kept} rectangles"
            );
        }
    }

    /// Thousands of overlapping translucent lines, in both directions, some off the
    /// canvas, become a few runs a column that blend every pixel alike.
    #[test]
    fn overlapping_translucent_lines_become_runs_that_draw_the_same_pixels() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let lines: Vec<Run> = (0..20_000)
            .map(|_| (next(70) - 3, next(440) - 20, next(440) - 20))
            .collect();
        for c in [
            RGBColor(30, 90, 200).mix(0.25),
            RGBColor(200, 0, 0).mix(0.08),
        ] {
            let (direct, _) = drawn(&lines, c, false);
            let (replayed, runs) = drawn(&lines, c, true);
            let differing = differing(&direct, &replayed);
            assert_eq!(differing, 0, "alpha {}: {differing} pixels differ", c.3);
            assert!(
                runs < lines.len() / 4,
                "{runs} runs for {} lines",
                lines.len()
            );
        }
    }

    #[test]
    fn a_blend_stops_changing_colours_after_a_few_repeats() {
        let blends = |alpha| {
            blends_that_count(Colour {
                rgb: (30, 90, 200),
                alpha,
            })
        };
        let quarter = blends(0.25).unwrap();
        assert!((5..=MAX_BLENDS).contains(&quarter), "{quarter}");
        assert!(blends(0.08).unwrap() > quarter);
    }

    /// Every upright text of every chart of the sample window, at widths down to the
    /// narrowest allowed and at 320×320, lies within the canvas from side to side
    /// (legends wrap, long frame texts end in "…", chart 03's list moves below its
    /// plots), and none of chart 03's overlaps another.
    #[test]
    fn no_text_runs_off_the_sides_of_a_narrow_chart() {
        let blob = waveplot_protocol::Blob::decode(include_bytes!(
            "../tests/fixtures/BTCUSDT-5m-864.msgpack"
        ))
        .unwrap();
        let mut off = Vec::new();
        for plot in PlotId::ALL {
            let sizes = [320, 480, 600, 1280].map(|w| (w, plot.default_size().1.min(900)));
            for (width, height) in sizes.into_iter().chain([(320, 320)]) {
                let scene =
                    crate::scene(blob.view(), plot, (width, height), &Default::default()).unwrap();
                let boxes = text_boxes(&scene);
                for (text, (left, _), (right, _)) in &boxes {
                    if *left < 0 || *right > width as i32 {
                        off.push(format!(
                            "{plot} {width}×{height}: {text:?} spans {left}..{right}"
                        ));
                    }
                }
                // Chart 03's list moves below its plots: none of its texts overlap.
                if plot == PlotId::Anomalies {
                    for (i, (a, a0, a1)) in boxes.iter().enumerate() {
                        for (b, b0, b1) in &boxes[i + 1..] {
                            if a0.0 < b1.0 && b0.0 < a1.0 && a0.1 < b1.1 && b0.1 < a1.1 {
                                off.push(format!("03 {width}×{height}: {a:?} overlaps {b:?}"));
                            }
                        }
                    }
                }
            }
        }
        assert!(
            off.is_empty(),
            "texts off the canvas or overlapping:\n{}",
            off.join("\n")
        );
    }

    /// A text with its box's top-left and bottom-right corners.
    type TextBox<'s> = (&'s str, (i32, i32), (i32, i32));

    /// Every upright text of `scene` with its box, measured as the bitmap backend
    /// measures it.
    fn text_boxes(scene: &Scene) -> Vec<TextBox<'_>> {
        let mut pixel = [0u8; 3];
        let bitmap = Bitmap(BitMapBackend::with_buffer(&mut pixel, (1, 1)));
        scene
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Text(text, font, at) if font.turn == Turn::None => Some((text, font, at)),
                _ => None,
            })
            .map(|(text, font, &(x, y))| {
                let (w, h) = bitmap.estimate_text_size(text, &text_style(font)).unwrap();
                let (w, h) = (w as i32, h as i32);
                let left = match font.anchor.0 {
                    Across::Left => x,
                    Across::Right => x - w,
                    Across::Center => x - w / 2,
                };
                let top = match font.anchor.1 {
                    Along::Top => y,
                    Along::Bottom => y - h,
                    Along::Center => y - h / 2,
                };
                (text.as_str(), (left, top), (left + w, top + h))
            })
            .collect()
    }
}
