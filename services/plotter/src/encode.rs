//! Turning a drawn chart into bytes: PNG through an in-memory RGB buffer and the `png`
//! crate, SVG through plotters' SVG backend. Both run the same drawing code.
//!
//! # PNG settings
//!
//! Charts are flat colours on white with long runs of equal pixels, so a fast deflate
//! already compresses them well and the expensive levels halve the size at several
//! times the time. Measured on the real 864-candle BTCUSDT 5m window at 1280×720 (01)
//! and 1280×1800 (02b) (release build, 2-core x86_64, best of 7):
//!
//! | deflate, filter | 01 encode | 01 size | 02b encode | 02b size |
//! |---|---|---|---|---|
//! | fdeflate, `Up` | 1.19 ms | 296 KiB | 3.50 ms | 926 KiB |
//! | **fdeflate, `Paeth`** | **1.71 ms** | **211 KiB** | **4.45 ms** | **565 KiB** |
//! | fdeflate, `Adaptive` (`Compression::Fast`) | 2.48 ms | 196 KiB | 6.74 ms | 526 KiB |
//! | zlib level 1, `Adaptive` | 5.19 ms | 150 KiB | 13.11 ms | 357 KiB |
//! | zlib level 3, `Adaptive` | 15.13 ms | 122 KiB | 36.86 ms | 279 KiB |
//!
//! We use fdeflate with the `Paeth` filter on every row: the adaptive filter tries all
//! five filters on every row, a third of the encoding, to save 7 % of the bytes;
//! zlib's levels would double the encoding or more (and more on an arm64 board) to
//! save a third on a local network. A chart is encoded once and then served many
//! times from the store, so if size ever matters more than CPU, a zlib level is the
//! one-line change. PNG filters are lossless: the pixels are the same whichever is used.
//!
//! # Pixel buffers
//!
//! A chart's pixels (2.7 MB at 1280×720, 6.9 MB at 1280×1800) would be fresh memory
//! for every chart: a page fault and a zeroed page every 4 KiB, a fifth of drawing
//! the larger charts. One buffer of at most [`SPARE_BYTES`] is kept for the next
//! chart instead (one per process: in the single-process `waveplot`, the six plotters
//! share it, and a chart that finds it taken makes its own). Every pixel of it is set to white, the chart's background, before
//! it is drawn on (a memset, which costs far less than the faults), so nothing of the
//! last chart shows.

use std::sync::Mutex;

use plotters::prelude::*;
use png::{BitDepth, ColorType, DeflateCompression, Encoder, Filter};
use waveplot_protocol::blob::BlobView;
use waveplot_protocol::{PlotId, Scene, TimeZone};

use crate::bitmap::Bitmap;
use crate::charts;
use crate::error::RenderError;
use crate::scene;

/// The largest pixel buffer kept for the next chart: the default sizes' (1280×1800 is
/// the largest) and a little more.
const SPARE_BYTES: usize = 8 << 20;

/// The pixel buffer kept from the last chart, if it was at most [`SPARE_BYTES`].
static SPARE: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// The chart as PNG bytes.
pub(crate) fn png(
    blob: BlobView<'_>,
    plot: PlotId,
    size: (u32, u32),
    zone: &TimeZone,
) -> Result<Vec<u8>, RenderError> {
    pixels(size, |bitmap| {
        let root = bitmap.into_drawing_area();
        charts::draw(&root, blob, plot, zone, true)?;
        root.present()?;
        Ok(())
    })
}

/// A scene ([`crate::scene`]) replayed as PNG bytes.
pub(crate) fn png_of_scene(scene: &Scene) -> Result<Vec<u8>, RenderError> {
    pixels((scene.width, scene.height), |mut bitmap| {
        scene::replay(&mut bitmap, scene)?;
        bitmap
            .present()
            .map_err(|e| RenderError::Draw(e.to_string()))
    })
}

/// Draws on `w`×`h` white pixels with `draw` and encodes them.
fn pixels(
    (w, h): (u32, u32),
    draw: impl FnOnce(Bitmap<'_>) -> Result<(), RenderError>,
) -> Result<Vec<u8>, RenderError> {
    let mut rgb = spare().unwrap_or_default();
    let len = w as usize * h as usize * 3;
    // Exactly: grown by doubling, a buffer could pass the size kept for no reason.
    rgb.reserve_exact(len);
    // White: the chart's background, every pixel written before drawing.
    rgb.resize(len, 255);
    let drawn = draw(Bitmap(BitMapBackend::with_buffer(&mut rgb, (w, h))))
        .and_then(|()| encode_rgb(&rgb, (w, h)));
    if rgb.capacity() <= SPARE_BYTES
        && let Ok(mut spare) = SPARE.lock()
    {
        *spare = Some(rgb);
    }
    drawn
}

/// The spare pixel buffer, if there is one (emptied).
fn spare() -> Option<Vec<u8>> {
    let mut rgb = SPARE.lock().ok()?.take()?;
    rgb.clear();
    Some(rgb)
}

/// RGB pixels as PNG bytes, with the settings above.
fn encode_rgb(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, RenderError> {
    // A chart compresses to roughly a tenth of its raw size; start there.
    let mut out = Vec::with_capacity(rgb.len() / 10);
    let mut encoder = Encoder::new(&mut out, w, h);
    encoder.set_color(ColorType::Rgb);
    encoder.set_depth(BitDepth::Eight);
    encoder.set_deflate_compression(DeflateCompression::FdeflateUltraFast);
    encoder.set_filter(Filter::Paeth);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// The chart as SVG bytes (UTF-8). The document carries the subsets of its fonts
/// (`theme::svg_font_faces`, about 32 kB), so it shows the PNG's letters everywhere.
pub(crate) fn svg(
    blob: BlobView<'_>,
    plot: PlotId,
    size: (u32, u32),
    zone: &TimeZone,
) -> Result<Vec<u8>, RenderError> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        charts::draw(&root, blob, plot, zone, false)?;
        root.present()?;
    }
    let fonts = format!("<defs><style>{}</style></defs>", charts::svg_font_faces());
    // After the opening tag, whose attributes never hold a '>'.
    if let Some(end) = text.find('>') {
        text.insert_str(end + 1, &fonts);
    }
    Ok(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use waveplot_protocol::{Blob, PlotId, TimeZone};

    use crate::charts::SVG_UNICODE_RANGE;

    /// The `(first, last)` code points of a CSS `unicode-range`.
    fn ranges() -> Vec<(u32, u32)> {
        SVG_UNICODE_RANGE
            .split(',')
            .map(|r| {
                let r = r.trim().trim_start_matches("U+");
                let (lo, hi) = r.split_once('-').unwrap_or((r, r));
                let hex = |h| u32::from_str_radix(h, 16).expect("hex");
                (hex(lo), hex(hi))
            })
            .collect()
    }

    /// The text content of every `<text>` element.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0))
            .map(|t| {
                t.replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&amp;", "&")
            })
            .collect()
    }

    #[test]
    fn svg_charts_carry_fonts_for_every_character_they_write() {
        let blob =
            Blob::decode(include_bytes!("../tests/fixtures/BTCUSDT-5m-864.msgpack")).unwrap();
        let ranges = ranges();
        for plot in PlotId::ALL {
            let bytes =
                super::svg(blob.view(), plot, plot.default_size(), &TimeZone::utc()).unwrap();
            let svg = String::from_utf8(bytes).unwrap();
            assert_eq!(svg.matches("@font-face").count(), 2, "{plot}");
            assert!(
                svg.contains("font-family=\"DejaVu Sans, sans-serif\""),
                "{plot}"
            );
            let texts = texts(&svg);
            assert!(texts.len() > 10, "{plot}: {} texts", texts.len());
            // Line breaks are the SVG writer's layout, not drawn characters.
            for c in texts
                .iter()
                .flat_map(|t| t.chars())
                .filter(|c| !c.is_control())
            {
                assert!(
                    ranges
                        .iter()
                        .any(|&(lo, hi)| (lo..=hi).contains(&u32::from(c))),
                    "{plot}: {c:?} (U+{:04X}) is not in the SVG fonts",
                    u32::from(c)
                );
            }
        }
    }
}
