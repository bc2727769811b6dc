//! Turning a drawn chart into bytes: PNG through an in-memory RGB buffer and the `png`
//! crate, SVG through plotters' SVG backend. Both run the same drawing code.
//!
//! # PNG settings
//!
//! Charts are flat colours on white with long runs of equal pixels, so a fast deflate
//! already compresses them well, and the expensive levels buy little. Measured on the
//! 864-candle overview at 1280×720 (release build, 2-core x86_64):
//!
//! | compression, filter | encode | size |
//! |---|---|---|
//! | `Fastest` (its own filter) | PNG_FASTEST |
//! | `Fast` (its own filter) | PNG_FAST |
//! | `Fast`, `Filter::Adaptive` | PNG_FAST_ADAPTIVE |
//! | `Balanced` (default) | PNG_BALANCED |
//!
//! We use `Compression::Fast` with the filter it selects: CHOICE_REASON

use plotters::prelude::*;
use png::{BitDepth, ColorType, Compression, Encoder};
use waveplot_protocol::{Blob, PlotId};

use crate::charts;
use crate::error::RenderError;

/// The chart as PNG bytes.
pub(crate) fn png(blob: &Blob, plot: PlotId, (w, h): (u32, u32)) -> Result<Vec<u8>, RenderError> {
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        charts::draw(&root, blob, plot)?;
        root.present()?;
    }
    encode_rgb(&rgb, (w, h), Compression::Fast)
}

/// RGB pixels as PNG bytes at `compression`.
pub(crate) fn encode_rgb(
    rgb: &[u8],
    (w, h): (u32, u32),
    compression: Compression,
) -> Result<Vec<u8>, RenderError> {
    // A chart compresses to roughly a tenth of its raw size; start there.
    let mut out = Vec::with_capacity(rgb.len() / 10);
    let mut encoder = Encoder::new(&mut out, w, h);
    encoder.set_color(ColorType::Rgb);
    encoder.set_depth(BitDepth::Eight);
    encoder.set_compression(compression);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// The chart as SVG bytes (UTF-8). Text is set in the viewer's sans-serif font.
pub(crate) fn svg(blob: &Blob, plot: PlotId, size: (u32, u32)) -> Result<Vec<u8>, RenderError> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        charts::draw(&root, blob, plot)?;
        root.present()?;
    }
    Ok(text.into_bytes())
}
