//! waveplot's chart renderers: an analysis [`Blob`] in, an encoded image out, no I/O.
//! The plotter service and the `plotter render` command both call [`render`].
//!
//! # Layout
//!
//! - [`render`], [`RenderOptions`]: the entry point; checks the size and picks the encoder.
//! - `charts`: the six charts (`overview` 01, `approximations` 02a, `bands` 02b,
//!   `anomalies` 03, `signals` 04, `statistics` 05) and what they share: the UTC time
//!   axis, number and period formatting, theme and embedded fonts, frame, panels.
//! - `encode`: PNG (via the `png` crate, settings and measurements in its docs) and SVG.
//! - [`error`]: [`RenderError`], what can go wrong.
//!
//! Times are drawn in UTC; there is no time-zone option yet.

mod charts;
mod encode;
pub mod error;

use waveplot_protocol::request::{MAX_SIDE, MIN_SIDE};
use waveplot_protocol::{Blob, ImageFormat, PlotId};

pub use error::RenderError;

/// How to render a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// PNG or SVG.
    pub format: ImageFormat,
}

impl RenderOptions {
    /// The chart's default size ([`PlotId::default_size`]) as PNG.
    pub fn for_plot(plot: PlotId) -> Self {
        let (width, height) = plot.default_size();
        Self {
            width,
            height,
            format: ImageFormat::Png,
        }
    }
}

/// Renders chart `plot` of `blob`. The same input always gives the same bytes.
pub fn render(blob: &Blob, plot: PlotId, options: &RenderOptions) -> Result<Vec<u8>, RenderError> {
    let size = (options.width, options.height);
    if ![size.0, size.1]
        .iter()
        .all(|s| (MIN_SIDE..=MAX_SIDE).contains(s))
    {
        return Err(RenderError::Size {
            width: size.0,
            height: size.1,
            min: MIN_SIDE,
            max: MAX_SIDE,
        });
    }
    match options.format {
        ImageFormat::Png => encode::png(blob, plot, size),
        ImageFormat::Svg => encode::svg(blob, plot, size),
    }
}
