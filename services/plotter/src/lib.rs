//! waveplot's chart renderers: an analysis [`Blob`] in, an encoded image out, no I/O.
//! The plotter service and the `plotter render` command both call [`render`].
//!
//! # Layout
//!
//! - [`render`], [`RenderOptions`]: the entry point; checks the size and picks the encoder.
//! - `charts`: the six charts (`overview` 01, `approximations` 02a, `bands` 02b,
//!   `anomalies` 03, `signals` 04, `statistics` 05) and what they share: the time
//!   axis in the requested time zone, number and period formatting, theme and embedded fonts, frame, panels.
//! - `encode`: PNG (via the `png` crate, settings and measurements in its docs) and SVG.
//! - [`error`]: [`RenderError`], what can go wrong.
//! - [`service`]: the bus service (`prepared` event → chart → `done` event).
//!
//! Times are written in UTC unless the request names an IANA time zone; the axis stays
//! linear in real time and only its ticks and labels follow the zone's wall clock.
//!
//! # Speed
//!
//! Median time per chart, drawing and PNG encoding included (`benches/charts.rs`,
//! synthetic windows, release build, 2-core x86_64, criterion with 1 s warm-up and
//! 3 s measurement). The budget is 30 ms per chart at 1280×720.
//!
//! | chart | 864 candles, 1280×720 | 4 320 candles, 1280×720 | 864 candles, 4800×3600 |
//! |---|---|---|---|
//! | 01 overview | 4.2 ms | 5.1 ms | 61 ms |
//! | 02a approximations | 7.6 ms | 10.2 ms | 78 ms |
//! | 02b bands | 6.5 ms | 8.5 ms | 77 ms |
//! | 03 anomalies | 6.3 ms | 7.4 ms | 71 ms |
//! | 04 signals | 4.1 ms | 5.2 ms | 81 ms |
//! | 05 statistics | 4.2 ms | 4.9 ms | 68 ms |
//!
//! At their default 1280×1800, 02a and 02b take about 15 ms. The PNG settings and
//! their measurements are in the `encode` module.

mod bitmap;
mod charts;
mod encode;
pub mod error;
mod fill;
mod scene;
pub mod service;

use plotters::drawing::IntoDrawingArea as _;
use waveplot_protocol::blob::{BlobView, Header, Parts};
use waveplot_protocol::request::{MAX_SIDE, MIN_SIDE};
use waveplot_protocol::{Blob, ImageFormat, PlotId, Scene, TimeZone};

pub use error::RenderError;

/// How to render a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// PNG or SVG.
    pub format: ImageFormat,
    /// The time zone the axes and dates are written in.
    pub zone: TimeZone,
}

impl RenderOptions {
    /// The chart's default size ([`PlotId::default_size`]) as PNG.
    pub fn for_plot(plot: PlotId) -> Self {
        let (width, height) = plot.default_size();
        Self {
            width,
            height,
            format: ImageFormat::Png,
            zone: TimeZone::utc(),
        }
    }
}

/// The parts of a blob that chart `plot` draws, for [`Blob::decode_parts`]: a plotter
/// reads these and skips the rest, so a chart of one detail level never holds the
/// others. A blob read with them draws the same bytes as the whole blob.
pub fn parts(plot: PlotId, header: &Header) -> Parts {
    charts::parts(plot, header)
}

/// The most memory drawing chart `plot` of `candles` candles analysed at `levels`
/// levels at `size` takes, in bytes, as estimated before reading the blob (the
/// estimate and its measurements are in the chart code).
pub fn memory(plot: PlotId, candles: u32, levels: u32, size: (u32, u32)) -> u64 {
    charts::memory(plot, candles, levels, size)
}

/// The most memory replaying a scene of `scene_bytes` bytes (at most
/// [`MAX_SCENE_BYTES`](waveplot_protocol::scene::MAX_SCENE_BYTES)) of a chart of
/// `size` takes, in bytes: the process and the chart's fonts and buffers, the scene's
/// bytes and its decoded operations (at most
/// [`DECODED_PER_BYTE`](waveplot_protocol::scene::DECODED_PER_BYTE) times its bytes),
/// and the image's pixels.
pub fn scene_memory(size: (u32, u32), scene_bytes: u64) -> u64 {
    use waveplot_protocol::scene::{DECODED_PER_BYTE, MAX_SCENE_BYTES};
    charts::memory_of_pixels(size) + (DECODED_PER_BYTE + 1) * scene_bytes.min(MAX_SCENE_BYTES)
}

/// Renders chart `plot` of `blob`, which holds at least [`parts`] of it. The same input
/// always gives the same bytes.
pub fn render(blob: &Blob, plot: PlotId, options: &RenderOptions) -> Result<Vec<u8>, RenderError> {
    let size = (options.width, options.height);
    let blob = blob.view();
    check_size(size)?;
    charts::check(blob, plot)?;
    match options.format {
        ImageFormat::Png => encode::png(blob, plot, size, &options.zone),
        ImageFormat::Svg => encode::svg(blob, plot, size, &options.zone),
    }
}

/// Records chart `plot` of `blob` (which holds at least [`parts`] of it), drawn as PNG
/// at `size` with times in `zone`, as a [`Scene`]: the chart-ready form, whose size
/// follows the chart's pixels rather than the blob's candles. [`render_scene`] makes
/// it the PNG [`render`] makes, pixel for pixel. The blob is borrowed as a [`BlobView`],
/// so that a writer keeping its candles apart from the analysis (prepare) records
/// scenes without copying either.
pub fn scene(
    blob: BlobView<'_>,
    plot: PlotId,
    size: (u32, u32),
    zone: &TimeZone,
) -> Result<Scene, RenderError> {
    check_size(size)?;
    charts::check(blob, plot)?;
    let recorder = scene::Recorder::new(plot, size);
    let root = recorder.clone().into_drawing_area();
    charts::draw(&root, blob, plot, zone, true)?;
    root.present()?;
    Ok(recorder.finish())
}

/// Draws `scene` as PNG.
pub fn render_scene(scene: &Scene) -> Result<Vec<u8>, RenderError> {
    scene.check()?;
    encode::png_of_scene(scene)
}

/// Checks an image size against the sides a chart can be drawn at.
fn check_size((width, height): (u32, u32)) -> Result<(), RenderError> {
    if [width, height]
        .iter()
        .all(|s| (MIN_SIDE..=MAX_SIDE).contains(s))
    {
        return Ok(());
    }
    Err(RenderError::Size {
        width,
        height,
        min: MIN_SIDE,
        max: MAX_SIDE,
    })
}
