//! The chart-ready form of a PNG chart: what drawing it does to its pixels, as a list
//! of drawing operations in pixel coordinates ([`Scene`]).
//!
//! prepare draws each requested chart once onto a recorder instead of pixels, while it
//! still holds the whole analysis, and stores the result under a [`SceneKey`](crate::key::SceneKey); a
//! plotter replays it onto pixels and encodes the PNG. The operations are those
//! plotters hands its bitmap backend, after every series has been thinned to what its
//! pixel columns show, so a scene's size follows the chart's pixels, not its candles
//! (a few hundred kB for a million-candle chart at 1280×720), and a plotter never
//! reads the blob. Replayed, a scene gives the very pixels drawing the chart from the
//! blob gives (the plotter's tests check every chart so, pixel for pixel).
//!
//! # Encoding
//!
//! MessagePack: an array of two elements, the [`SCENE_VERSION`] and the scene (a
//! `rmp-serde` array encoding of [`Scene`]). A scene of another version is not
//! decoded. The scene key and the `prepared` event carry the version too, so versions
//! never share an object, and a plotter of another version draws from the blob.
//! [`SCENE_VERSION`] changes whenever the encoding or the drawing it records does.

use plotters_backend::rasterizer::polygonize;
use serde::{Deserialize, Serialize};

use crate::error::SceneError;
use crate::plot::PlotId;
use crate::request::{MAX_SIDE, MIN_SIDE};

/// Version of the scene encoding and of the drawing it records.
pub const SCENE_VERSION: u32 = 2;

/// The largest encoded scene a reader accepts, in bytes. Charts whose scene would be
/// larger are drawn from the blob.
pub const MAX_SCENE_BYTES: u64 = 16 << 20;

/// Most operations a scene may hold.
const MAX_OPS: usize = 1 << 20;

/// Most points (of paths and polygons) and runs a scene may hold in all.
const MAX_POINTS: usize = 4 << 20;

/// How much larger a decoded scene is than its bytes, at most: an operation takes under
/// 100 bytes in memory and at least 16 encoded, a point 8 and at least 3, and a
/// growing list up to twice what it holds.
pub const DECODED_PER_BYTE: u64 = 12;

/// How far outside the canvas a coordinate may lie, in pixels: drawing code places
/// points off the canvas (a line leaving the plot), never this far.
const REACH: i32 = 4 * MAX_SIDE as i32;

/// Widest stroke, largest circle radius and largest font size a scene may ask for, in
/// pixels (the charts use a few pixels; 8192-px charts scale them by about six).
const MAX_EXTENT: u32 = 512;

/// Longest text a scene may draw, in bytes.
const MAX_TEXT: usize = 1024;

/// Most pixel writes a scene may ask for, per pixel of its canvas, as [`Scene::work`]
/// estimates them. The charts' scenes ask for 0.9 to 40 at 100 000 candles; at a
/// million (synthetic walk) chart 04's signal shading asks for up to 109 (600×900),
/// the others at most 50. A damaged or forged scene of a million full-canvas fills
/// would ask for a million. This bounds a replay to the time of a few hundred canvas
/// fills (255 translucent full-canvas fills at 1280×720 replay in 0.41 s); polygon
/// sweeps, weighted by estimate rather than timing, may take a few times longer.
pub const MAX_WORK_PER_PIXEL: u64 = 256;

/// A point on the canvas, in pixels from its top-left corner.
pub type Point = (i32, i32);

/// A one-pixel-wide vertical run of pixels, `(x, top, bottom)`: rows `top` to
/// `bottom`, `top` included, `bottom` not.
pub type Run = (i32, i32, i32);

/// A colour and its opacity (0 to 1), as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Colour {
    /// Red, green and blue.
    pub rgb: (u8, u8, u8),
    /// Opacity, 0 (none) to 1 (opaque).
    pub alpha: f64,
}

/// How a shape is stroked or filled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stroke {
    /// Its colour.
    pub colour: Colour,
    /// Line width in pixels.
    pub width: u32,
}

/// The style of a font.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FontStyle {
    /// Upright.
    Normal,
    /// Slanted.
    Oblique,
    /// Italic.
    Italic,
    /// Bold.
    Bold,
}

/// How a text is turned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Turn {
    /// Not at all.
    None,
    /// A quarter turn clockwise.
    Rotate90,
    /// Upside down.
    Rotate180,
    /// A quarter turn anticlockwise.
    Rotate270,
}

/// Where a text's anchor point is, across it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Across {
    /// At its left edge.
    Left,
    /// At its right edge.
    Right,
    /// At its middle.
    Center,
}

/// Where a text's anchor point is, up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Along {
    /// At its top.
    Top,
    /// At its middle.
    Center,
    /// At its bottom.
    Bottom,
}

/// How a text is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Font {
    /// The font family's name.
    pub family: String,
    /// Size in pixels.
    pub size: f64,
    /// Normal, bold, …
    pub style: FontStyle,
    /// How the text is turned.
    pub turn: Turn,
    /// Where the text's position is, across and along it.
    pub anchor: (Across, Along),
    /// Its colour.
    pub colour: Colour,
}

/// One drawing operation, as plotters hands it to a bitmap backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// One pixel.
    Pixel(Point, Colour),
    /// A straight line.
    Line(Point, Point, Stroke),
    /// A rectangle between two corners, filled or outlined.
    Rect(Point, Point, Stroke, bool),
    /// A line through the points.
    Path(Vec<Point>, Stroke),
    /// A circle around a centre with a radius, filled or outlined.
    Circle(Point, u32, Stroke, bool),
    /// A filled polygon.
    Polygon(Vec<Point>, Stroke),
    /// A text at a position.
    Text(String, Font, Point),
    /// One-pixel-wide vertical runs of one translucent colour, each pixel of a run blended once. They
    /// stand for many overlapping lines of that colour (a million candles' high–low
    /// band), which blend each pixel as often as they cover it: the runs cover each
    /// pixel as often, or as often as makes a difference to its colour.
    Runs(Vec<Run>, Colour),
}

/// A chart's drawing, in pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// The chart.
    pub plot: PlotId,
    /// Canvas width in pixels.
    pub width: u32,
    /// Canvas height in pixels.
    pub height: u32,
    /// What is drawn, in order, on a white canvas.
    pub ops: Vec<Op>,
}

impl Scene {
    /// Encodes the scene ([module docs](self)).
    pub fn encode(&self) -> Result<Vec<u8>, SceneError> {
        let mut out = Vec::new();
        rmp::encode::write_array_len(&mut out, 2).map_err(|e| SceneError::Encode(e.into()))?;
        rmp::encode::write_uint(&mut out, SCENE_VERSION.into())
            .map_err(|e| SceneError::Encode(e.into()))?;
        rmp_serde::encode::write(&mut out, self).map_err(SceneError::Encode)?;
        Ok(out)
    }

    /// Decodes a scene of this build's [`SCENE_VERSION`], at most [`MAX_SCENE_BYTES`]
    /// long, and checks that it can be drawn ([`Scene::check`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, SceneError> {
        let size = bytes.len() as u64;
        if size > MAX_SCENE_BYTES {
            return Err(SceneError::TooLarge {
                bytes: size,
                max: MAX_SCENE_BYTES,
            });
        }
        let mut input = bytes;
        let malformed = |what| SceneError::Malformed { what, source: None };
        if rmp::decode::read_array_len(&mut input).map_err(|_| malformed("the outer array"))? != 2 {
            return Err(malformed("the outer array"));
        }
        let version: u32 =
            rmp::decode::read_int(&mut input).map_err(|_| malformed("the version"))?;
        if version != SCENE_VERSION {
            return Err(SceneError::Version {
                found: version,
                supported: SCENE_VERSION,
            });
        }
        let mut reader = input;
        let scene: Scene =
            rmp_serde::decode::from_read(&mut reader).map_err(|e| SceneError::Malformed {
                what: "the scene",
                source: Some(e),
            })?;
        if !reader.is_empty() {
            return Err(malformed("the end (bytes follow the scene)"));
        }
        scene.check()?;
        Ok(scene)
    }

    /// Checks that the scene can be drawn in bounded time: its canvas within the
    /// allowed sides, at most a million operations and four million points, every
    /// point within reach of the canvas, strokes, circles, fonts and texts of sane
    /// sizes, and at most [`MAX_WORK_PER_PIXEL`] pixel writes per canvas pixel in all
    /// ([`Scene::work`]). A scene is written by prepare; this keeps a damaged or forged
    /// one from making a plotter draw for ever.
    pub fn check(&self) -> Result<(), SceneError> {
        let bad = |reason: String| Err(SceneError::Invalid(reason));
        for side in [self.width, self.height] {
            if !(MIN_SIDE..=MAX_SIDE).contains(&side) {
                return bad(format!(
                    "a canvas side of {side} px (allowed: {MIN_SIDE} to {MAX_SIDE})"
                ));
            }
        }
        if self.ops.len() > MAX_OPS {
            return bad(format!(
                "{} operations (allowed: at most {MAX_OPS})",
                self.ops.len()
            ));
        }
        let points: usize = self
            .ops
            .iter()
            .map(|op| match op {
                Op::Path(points, _) | Op::Polygon(points, _) => points.len(),
                Op::Runs(runs, _) => runs.len(),
                _ => 0,
            })
            .sum();
        if points > MAX_POINTS {
            return bad(format!(
                "{points} points and runs (allowed: at most {MAX_POINTS})"
            ));
        }
        let point = near;
        let extent = |e: u32| e <= MAX_EXTENT;
        let colour = |c: &Colour| (0.0..=1.0).contains(&c.alpha);
        let stroke = |s: &Stroke| extent(s.width) && colour(&s.colour);
        for (i, op) in self.ops.iter().enumerate() {
            let fine = match op {
                Op::Pixel(p, c) => point(p) && colour(c),
                Op::Line(a, b, s) | Op::Rect(a, b, s, _) => point(a) && point(b) && stroke(s),
                Op::Path(points, s) | Op::Polygon(points, s) => {
                    points.iter().all(point) && stroke(s)
                }
                Op::Circle(c, r, s, _) => point(c) && extent(*r) && stroke(s),
                Op::Text(text, font, p) => {
                    text.len() <= MAX_TEXT
                        && point(p)
                        && font.size.is_finite()
                        && font.size >= 0.0
                        && font.size <= f64::from(MAX_EXTENT)
                        && colour(&font.colour)
                }
                Op::Runs(runs, c) => {
                    colour(c)
                        && runs
                            .iter()
                            .all(|&(x, a, b)| point(&(x, a)) && point(&(x, b)))
                }
            };
            if !fine {
                return bad(format!(
                    "operation {i} reaches too far or is too large: {op:?}"
                ));
            }
        }
        let work = self.work();
        let canvas = u64::from(self.width) * u64::from(self.height);
        if work > MAX_WORK_PER_PIXEL * canvas {
            return bad(format!(
                "{work} pixel writes on a {}×{} canvas (allowed: at most {MAX_WORK_PER_PIXEL} a pixel, {})",
                self.width,
                self.height,
                MAX_WORK_PER_PIXEL * canvas
            ));
        }
        Ok(())
    }

    /// An upper estimate of the pixel writes and steps replaying the scene takes, as
    /// plotters 0.3's bitmap backend and rasterizers draw (read from their code): a
    /// one-pixel line's length (twice that when slanted), a filled rectangle's area on
    /// the canvas, a circle's square, a text's characters times a glyph's largest box,
    /// a run's length on the canvas; a polygon's box on the canvas plus its filling
    /// sweep, each line of it and each edge on a line weighted as 16 writes; wider
    /// lines and outlines as the polygons plotters fills for them, a wide path as the
    /// very polygon it is outlined with. Saturates rather than overflows.
    pub fn work(&self) -> u64 {
        let canvas = (i64::from(self.width), i64::from(self.height));
        self.ops
            .iter()
            .map(|op| match op {
                Op::Pixel(..) => 1,
                Op::Line(a, b, s) => line_work(*a, *b, s.width),
                Op::Rect(a, b, _, true) => {
                    within(a.0, b.0, canvas.0).saturating_mul(within(a.1, b.1, canvas.1))
                }
                Op::Rect(a, b, s, false) => [
                    (*a, (a.0, b.1)),
                    (*a, (b.0, a.1)),
                    (*b, (a.0, b.1)),
                    (*b, (b.0, a.1)),
                ]
                .into_iter()
                .map(|(from, to)| line_work(from, to, s.width))
                .fold(0, u64::saturating_add),
                // A path of any width but one (none included) is filled as the polygon
                // plotters outlines it with; where it turns back sharply, that polygon's inner corner lies far
                // away, and so does the fill's sweep: beyond reach of the canvas, the
                // outline only adds sweep off it, and the path is refused.
                Op::Path(points, s) if s.width != 1 => {
                    let outline = polygonize(points, s.width);
                    if outline.iter().all(near) {
                        polygon_work(&outline, 1, canvas)
                    } else {
                        u64::MAX
                    }
                }
                Op::Path(points, _) => points
                    .windows(2)
                    .map(|pair| line_work(pair[0], pair[1], 1))
                    .fold(0, u64::saturating_add),
                Op::Circle(_, r, s, _) => {
                    let side = 2 * (u64::from(*r) + u64::from(s.width.max(1))) + 1;
                    side.saturating_mul(side)
                }
                Op::Polygon(points, s) => polygon_work(points, s.width, canvas),
                Op::Text(text, font, _) => {
                    // A glyph's box is at most 1.7 times the size wide and 1.2 times
                    // high (DejaVu, scaled by ascent minus descent); rotation moves
                    // pixels, not their number. Saturates: NaN gives 0.
                    let side = |k: f64| ((k * font.size).ceil() as u64).saturating_add(2);
                    (text.chars().count() as u64)
                        .saturating_mul(side(1.7).saturating_mul(side(1.2)))
                }
                Op::Runs(runs, _) => runs
                    .iter()
                    .map(|&(_, top, bottom)| {
                        if bottom > top {
                            within(top, bottom - 1, canvas.1)
                        } else {
                            0
                        }
                    })
                    .fold(0, u64::saturating_add),
            })
            .fold(0, u64::saturating_add)
    }
}

/// What one line of a polygon fill's sweep costs, in pixel writes: plotters-backend's
/// `fill_polygon` walks every line from one end of the polygon to the other, on the
/// canvas or not, and gathers and sorts the edges crossing it in a new list.
const SWEEP_LINE: u64 = 16;

/// What one edge on one line of a polygon fill's sweep costs, in pixel writes: it is
/// stepped, moved to the next line's list and sorted among the others by comparisons
/// that each divide.
const EDGE_LINE: u64 = 16;

/// Whether a point lies within [`REACH`] of the canvas.
fn near(&(x, y): &Point) -> bool {
    x.unsigned_abs() <= REACH.unsigned_abs() && y.unsigned_abs() <= REACH.unsigned_abs()
}

/// Pixels of the span `a..=b` (either order) that lie within `0..side`.
fn within(a: i32, b: i32, side: i64) -> u64 {
    let (low, high) = (
        i64::from(a.min(b)).max(0),
        i64::from(a.max(b)).min(side - 1),
    );
    u64::try_from(high - low + 1).unwrap_or(0)
}

/// [`Scene::work`] of a line `width` pixels wide from `a` to `b`. One pixel wide, it
/// writes each pixel along it, two a step where it is slanted (anti-aliasing). Wider,
/// plotters fills it as a four-cornered polygon: a sweep along its longer side, at most
/// its length and width long, writing in all at most √2 times its width and three more
/// pixels a line, with four edges on it.
fn line_work((ax, ay): Point, (bx, by): Point, width: u32) -> u64 {
    let length = u64::from(ax.abs_diff(bx).max(ay.abs_diff(by))) + 1;
    if width <= 1 {
        let slanted = ax != bx && ay != by;
        return length.saturating_mul(if slanted { 2 } else { 1 });
    }
    let sweep = length.saturating_add(u64::from(width)).saturating_add(1);
    let across = (f64::from(width) * std::f64::consts::SQRT_2).ceil() as u64 + 3;
    sweep.saturating_mul(across + 4 * (EDGE_LINE + 1) + SWEEP_LINE)
}

/// [`Scene::work`] of a filled polygon through `points`, drawn with a stroke `width`
/// pixels wide, as plotters-backend's `fill_polygon` draws it. One with all its points
/// on one row or column is drawn as a line of that width. Otherwise it is swept along
/// its longer side, a line at a time, unclipped; each edge stays on the sweep for its
/// extent along it (and adds at most one anti-aliased pixel a line), and the spans
/// between edges write the polygon's pixels, at most its box on the canvas.
fn polygon_work(points: &[Point], width: u32, canvas: (i64, i64)) -> u64 {
    let span = |axis: fn(&Point) -> i32| {
        Some((
            points.iter().map(axis).min()?,
            points.iter().map(axis).max()?,
        ))
    };
    let (Some(x), Some(y)) = (span(|p| p.0), span(|p| p.1)) else {
        return 0;
    };
    if x.0 == x.1 || y.0 == y.1 {
        return line_work((x.0, y.0), (x.1, y.1), width);
    }
    let along_x = x.0.abs_diff(x.1) > y.0.abs_diff(y.1);
    let along = |p: &Point| if along_x { p.0 } else { p.1 };
    let edges = points
        .iter()
        .zip(points.iter().cycle().skip(1))
        .map(|(a, b)| u64::from(along(a).abs_diff(along(b))) + 1)
        .fold(0, u64::saturating_add);
    let sweep = u64::from(if along_x {
        x.0.abs_diff(x.1)
    } else {
        y.0.abs_diff(y.1)
    }) + 1;
    within(x.0, x.1, canvas.0)
        .saturating_mul(within(y.0, y.1, canvas.1))
        .saturating_add(edges.saturating_mul(EDGE_LINE + 1))
        .saturating_add(sweep.saturating_mul(SWEEP_LINE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene() -> Scene {
        let black = Colour {
            rgb: (0, 0, 0),
            alpha: 1.0,
        };
        let stroke = Stroke {
            colour: black,
            width: 1,
        };
        Scene {
            plot: PlotId::Overview,
            width: 1280,
            height: 720,
            ops: vec![
                Op::Line((0, 0), (10, 10), stroke),
                Op::Text(
                    "Price".into(),
                    Font {
                        family: "DejaVu Sans".into(),
                        size: 13.0,
                        style: FontStyle::Bold,
                        turn: Turn::None,
                        anchor: (Across::Left, Along::Center),
                        colour: black,
                    },
                    (4, 11),
                ),
                Op::Runs(vec![(5, 10, 20), (6, 0, 720)], black),
            ],
        }
    }

    #[test]
    fn a_scene_round_trips() {
        let s = scene();
        assert_eq!(Scene::decode(&s.encode().unwrap()).unwrap(), s);
    }

    #[test]
    fn other_versions_trailing_bytes_and_far_points_are_refused() {
        let mut bytes = scene().encode().unwrap();
        let other = SCENE_VERSION as u8 + 1;
        bytes[1] = other;
        assert!(matches!(
            Scene::decode(&bytes),
            Err(SceneError::Version { found, .. }) if found == u32::from(other)
        ));
        let mut bytes = scene().encode().unwrap();
        bytes.push(0);
        assert!(matches!(
            Scene::decode(&bytes),
            Err(SceneError::Malformed { .. })
        ));
        let mut far = scene();
        far.ops.push(Op::Circle(
            (0, 0),
            1 << 30,
            Stroke {
                colour: Colour {
                    rgb: (0, 0, 0),
                    alpha: 1.0,
                },
                width: 1,
            },
            true,
        ));
        let error = Scene::decode(&far.encode().unwrap()).unwrap_err();
        assert!(error.to_string().contains("too large"), "{error}");
        for x in [i32::MIN, -REACH - 1, REACH + 1] {
            let mut far = scene();
            far.ops.push(Op::Pixel(
                (x, 0),
                Colour {
                    rgb: (0, 0, 0),
                    alpha: 1.0,
                },
            ));
            assert!(far.check().is_err(), "a point at x = {x} is refused");
        }
        let mut many = scene();
        many.ops = vec![
            Op::Pixel(
                (0, 0),
                Colour {
                    rgb: (0, 0, 0),
                    alpha: 1.0
                }
            );
            MAX_OPS + 1
        ];
        let error = many.check().unwrap_err();
        assert!(error.to_string().contains("operations"), "{error}");
        let mut small = scene();
        small.width = 10;
        assert!(Scene::decode(&small.encode().unwrap()).is_err());
        assert!(Scene::decode(&[0x92, 0x01]).is_err());
    }

    #[test]
    fn a_scene_that_writes_the_canvas_over_too_often_is_refused() {
        let fill = || {
            Op::Rect(
                (-100, -100),
                (1380, 820),
                Stroke {
                    colour: Colour {
                        rgb: (0, 0, 0),
                        alpha: 0.5,
                    },
                    width: 1,
                },
                true,
            )
        };
        let mut fills = scene();
        // The scene's own few operations, then full-canvas fills: clipped to the
        // canvas, each writes 1280×720 pixels.
        let own = fills.work();
        assert!(own < 1280 * 720, "{own}");
        fills
            .ops
            .extend((0..MAX_WORK_PER_PIXEL - 1).map(|_| fill()));
        fills.check().unwrap();
        fills.ops.push(fill());
        let error = Scene::decode(&fills.encode().unwrap()).unwrap_err();
        assert!(error.to_string().contains("pixel writes"), "{error}");
        // Each kind of operation counts.
        let stroke = |width| Stroke {
            colour: Colour {
                rgb: (0, 0, 0),
                alpha: 1.0,
            },
            width,
        };
        let font = Font {
            family: "DejaVu Sans".into(),
            size: 9.4,
            style: FontStyle::Normal,
            turn: Turn::None,
            anchor: (Across::Left, Along::Top),
            colour: stroke(1).colour,
        };
        let work = |op: Op| {
            Scene {
                ops: vec![op],
                ..scene()
            }
            .work()
        };
        // 13 sweep lines of at most 6 pixels, 4 edges and the sweep line's own cost.
        assert_eq!(
            work(Op::Line((0, 0), (9, 3), stroke(2))),
            13 * (6 + 4 * 17 + 16)
        );
        assert_eq!(
            work(Op::Rect((0, 0), (9, 3), stroke(2), false)),
            2 * (7 + 13) * 90
        );
        // A slanted one-pixel segment writes two pixels a step.
        assert_eq!(work(Op::Path(vec![(0, 0), (9, 3), (9, 13)], stroke(1))), 31);
        assert_eq!(work(Op::Circle((5, 5), 4, stroke(1), true)), 121);
        assert_eq!(
            work(Op::Polygon(vec![(0, 0), (9, 0), (9, 3)], stroke(1))),
            10 * 4 + 21 * 17 + 10 * 16
        );
        // A path of no width is filled as the outline plotters makes of it too.
        let zigzag: Vec<Point> = (0..200).map(|i| (1000 * (i % 2), i / 50)).collect();
        assert_eq!(
            work(Op::Path(zigzag.clone(), stroke(0))),
            polygon_work(&polygonize(&zigzag, 0), 1, (1280, 720))
        );
        assert!(work(Op::Path(zigzag.clone(), stroke(0))) > 2 * work(Op::Path(zigzag, stroke(1))));
        // A flat polygon is drawn as a line of its stroke's width.
        assert_eq!(
            work(Op::Polygon(vec![(0, 360), (1279, 360)], stroke(512))),
            work(Op::Line((0, 360), (1279, 360), stroke(512)))
        );
        assert!(work(Op::Polygon(vec![(0, 360), (1279, 360)], stroke(512))) > 512 * 1280);
        assert_eq!(work(Op::Text("ab".into(), font, (0, 0))), 2 * 18 * 14);
        assert_eq!(
            work(Op::Runs(vec![(0, 700, 800), (1, 5, 5)], stroke(1).colour)),
            20
        );
    }

    /// A wide path that turns back on itself is outlined by plotters with an inner
    /// corner far off the canvas, which the fill would sweep to: it is weighed as that
    /// polygon, and refused, while the same path a pixel wide is not.
    #[test]
    fn a_wide_path_that_turns_back_is_weighed_by_the_polygon_plotters_fills() {
        let path = |width| Scene {
            ops: vec![Op::Path(
                vec![(0, 0), (10_000, 9_999), (1, 1)],
                Stroke {
                    colour: Colour {
                        rgb: (0, 0, 0),
                        alpha: 1.0,
                    },
                    width,
                },
            )],
            ..scene()
        };
        let corners = polygonize(&[(0, 0), (10_000, 9_999), (1, 1)], 2);
        let reach = corners.iter().map(|p| p.0.unsigned_abs()).max().unwrap();
        assert!(reach > 1_000_000, "the inner corner lies at {reach}");
        assert!(path(2).work() > u64::from(reach) * SWEEP_LINE);
        let error = path(2).check().unwrap_err().to_string();
        assert!(error.contains("pixel writes"), "{error}");
        path(1).check().unwrap();
    }
}
