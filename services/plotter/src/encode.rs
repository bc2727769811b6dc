//! Turning a drawn chart into bytes: PNG through an in-memory RGB buffer and the `png`
//! crate, SVG through plotters' SVG backend. Both run the same drawing code.
//!
//! # PNG settings
//!
//! Charts are flat colours on white with long runs of equal pixels, so a fast deflate
//! already compresses them well and the expensive levels halve the size at ten times
//! the time. Measured on the real 864-candle BTCUSDT 5m window at 1280×720 (release
//! build, 2-core x86_64, best of 7; rendering itself takes about 5 ms):
//!
//! | compression, filter | 01 encode | 01 size | 02b encode | 02b size |
//! |---|---|---|---|---|
//! | `Fastest` (filter `Up`) | 0.93 ms | 273 KiB | 1.09 ms | 564 KiB |
//! | **`Fast` (filter `Adaptive`)** | **1.54 ms** | **171 KiB** | **1.74 ms** | **242 KiB** |
//! | `Fast`, filter `Paeth` | 1.12 ms | 186 KiB | 1.33 ms | 263 KiB |
//! | `Balanced` (the crate default) | 15.5 ms | 87 KiB | 18.9 ms | 101 KiB |
//! | `High` | 31.9 ms | 87 KiB | 69.9 ms | 101 KiB |
//!
//! We use `Compression::Fast` with the adaptive filter it selects: `Balanced` would
//! triple the whole render time (and more on an arm64 board) to save about 100 KiB
//! per chart on a local network, while `Fastest` saves half a millisecond for twice
//! the bytes. A chart is encoded once and then served many times from the store, so
//! if size ever matters more than latency, `Balanced` is the one-line change.

use plotters::prelude::*;
use png::{BitDepth, ColorType, Compression, Encoder};
use waveplot_protocol::{Blob, PlotId, TimeZone};

use crate::bitmap::Bitmap;
use crate::charts;
use crate::error::RenderError;

/// The chart as PNG bytes.
pub(crate) fn png(
    blob: &Blob,
    plot: PlotId,
    (w, h): (u32, u32),
    zone: &TimeZone,
) -> Result<Vec<u8>, RenderError> {
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = Bitmap(BitMapBackend::with_buffer(&mut rgb, (w, h))).into_drawing_area();
        charts::draw(&root, blob, plot, zone, true)?;
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

/// The chart as SVG bytes (UTF-8). The document carries the subsets of its fonts
/// (`theme::svg_font_faces`, about 32 kB), so it shows the PNG's letters everywhere.
pub(crate) fn svg(
    blob: &Blob,
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
            let bytes = super::svg(&blob, plot, plot.default_size(), &TimeZone::utc()).unwrap();
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
