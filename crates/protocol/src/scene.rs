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

use serde::{Deserialize, Serialize};

use crate::error::SceneError;
use crate::plot::PlotId;
use crate::request::{MAX_SIDE, MIN_SIDE};

/// Version of the scene encoding and of the drawing it records.
pub const SCENE_VERSION: u32 = 1;

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
    /// sizes. A scene is written by prepare; this keeps a damaged or forged one from
    /// making a plotter draw for ever. (It does not weigh each operation's area: a
    /// forged scene of a million full-canvas fills is still drawn, slowly; only
    /// prepare's key can write one.)
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
        let point = |&(x, y): &Point| x.abs() <= REACH && y.abs() <= REACH;
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
        Ok(())
    }
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
        bytes[1] = 2;
        assert!(matches!(
            Scene::decode(&bytes),
            Err(SceneError::Version { found: 2, .. })
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
}
