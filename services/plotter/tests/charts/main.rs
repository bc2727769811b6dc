//! Every chart renders real-looking and awkward windows into decodable, non-blank,
//! reproducible images of the requested size.

mod cli;
mod helpers;
mod pinned;

use helpers::{Synth, btc_like};
use waveplot_plotter::{RenderOptions, render};
use waveplot_protocol::{Blob, ImageFormat, PlotId, TimeZone};

/// Decodes a PNG into (width, height, RGB pixels).
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Variance of the pixels' brightness: a blank or near-blank image is close to 0.
fn variance(rgb: &[u8]) -> f64 {
    let lum: Vec<f64> = rgb
        .chunks(3)
        .map(|p| p.iter().map(|&c| f64::from(c)).sum::<f64>() / 3.0)
        .collect();
    let mean = lum.iter().sum::<f64>() / lum.len() as f64;
    lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lum.len() as f64
}

/// Renders all six charts of `blob` at their default sizes and checks each image.
fn all_charts_are_sound(blob: &Blob) {
    for plot in PlotId::ALL {
        let options = RenderOptions::for_plot(plot);
        let bytes = render(blob, plot, &options).unwrap_or_else(|e| panic!("{plot}: {e}"));
        let (w, h, rgb) = decode(&bytes);
        assert_eq!((w, h), plot.default_size(), "{plot}");
        let v = variance(&rgb);
        assert!(v > 100.0, "{plot} looks blank: variance {v}");
    }
}

#[test]
fn every_chart_renders_a_three_day_five_minute_window() {
    all_charts_are_sound(&Synth::new(864).blob(btc_like));
}

#[test]
fn every_chart_renders_a_window_too_short_for_eight_levels() {
    let blob = Synth::new(40).blob(btc_like);
    assert_eq!(blob.header.levels_used, 4);
    all_charts_are_sound(&blob);
}

/// Constant prices make every detail, deviation and σ exactly zero, so the y range of
/// each detail, band, signal and σ panel is a single value until it is padded. Each
/// chart must still draw every series it draws for a moving window of the same length,
/// each as a flat line on the row where its axis writes its value (100 for prices and
/// smooths, 0 for the rest), and write no NaN or infinity.
#[test]
fn every_chart_renders_constant_prices() {
    let flat = Synth::new(300).blob(|_| 100.0);
    all_charts_are_sound(&flat);
    let moving = Synth::new(300).blob(btc_like);
    for plot in PlotId::ALL {
        let drawn = svg(&flat, plot);
        let garbage: Vec<String> = texts(&drawn)
            .into_iter()
            .map(|(_, content)| content)
            .filter(|c| c.contains("NaN") || c.contains("inf"))
            .collect();
        assert!(garbage.is_empty(), "{plot} writes {garbage:?}");
        let lines = series(&drawn);
        assert_eq!(
            colours(&lines),
            colours(&series(&svg(&moving, plot))),
            "{plot}: the series of constant prices are not those of moving ones"
        );
        let ticks = y_ticks(&drawn);
        for (colour, points) in &lines {
            let (x, y) = points[0];
            assert!(
                points.iter().all(|p| p.1 == y),
                "{plot}: the {colour} line of constant prices is not flat"
            );
            assert!(
                ticks.iter().any(|&(value, tx, ty)| tx < x
                    && (ty - y).abs() <= 1
                    && (value == 0.0 || value == 100.0)),
                "{plot}: the {colour} line of constant prices is at y = {y}, where no axis writes 0 or 100: {ticks:?}"
            );
        }
    }
}

/// A candle that closes at its open is drawn as rising in both the candlesticks and
/// the volume bars, whose legend says "close ≥ open": a window of such candles shows
/// the falling colour only in the legends, as a window of rising candles does.
#[test]
fn a_candle_that_closes_at_its_open_is_drawn_rising_everywhere() {
    let falling = "#d23232";
    let count = |blob: &Blob| {
        svg(blob, PlotId::Overview)
            .to_lowercase()
            .matches(falling)
            .count()
    };
    let flat = Synth::new(300).blob(|_| 100.0);
    let rising = Synth::new(300).blob(|i| 100.0 + i as f64);
    assert!(count(&rising) > 0, "the legend shows the falling colour");
    assert_eq!(count(&flat), count(&rising));
}

/// `plot` of `blob` at its default size, as SVG text.
fn svg(blob: &Blob, plot: PlotId) -> String {
    let options = RenderOptions {
        format: ImageFormat::Svg,
        ..RenderOptions::for_plot(plot)
    };
    String::from_utf8(render(blob, plot, &options).unwrap_or_else(|e| panic!("{plot}: {e}")))
        .unwrap()
}

/// The value of attribute `name` in the attributes of an SVG tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let from = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(tag[from..].split_once('"')?.0)
}

/// The `<text>` elements of an SVG: the attributes and the trimmed content of each.
fn texts(svg: &str) -> Vec<(&str, String)> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let (attrs, rest) = t.split_once('>')?;
            Some((attrs, rest.split_once("</text>")?.0.trim().to_owned()))
        })
        .collect()
}

/// The y-axis tick labels of an SVG chart: the value, x and y of each right-aligned
/// number.
fn y_ticks(svg: &str) -> Vec<(f64, i32, i32)> {
    texts(svg)
        .into_iter()
        .filter(|(attrs, _)| attr(attrs, "text-anchor") == Some("end"))
        .filter_map(|(attrs, content)| {
            let number: String = content
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| if c == '−' { '-' } else { c })
                .collect();
            Some((
                number.parse().ok()?,
                attr(attrs, "x")?.parse().ok()?,
                attr(attrs, "y")?.parse().ok()?,
            ))
        })
        .collect()
}

/// A stroke colour and the points of a polyline.
type Line = (String, Vec<(i32, i32)>);

/// The series lines of an SVG chart of a few hundred candles: its polylines of at least
/// 100 points (axes, grid, levels, legend swatches and dashes have a few).
fn series(svg: &str) -> Vec<Line> {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|tag| {
            let tag = tag.split_once("/>")?.0;
            let points: Vec<(i32, i32)> = attr(tag, "points")?
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').expect("x,y");
                    (x.parse().expect("an x"), y.parse().expect("a y"))
                })
                .collect();
            Some((attr(tag, "stroke")?.to_owned(), points))
        })
        .filter(|(_, points)| points.len() >= 100)
        .collect()
}

/// The colours of `lines`, sorted, each as often as it is drawn.
fn colours(lines: &[Line]) -> Vec<&str> {
    let mut colours: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
    colours.sort_unstable();
    colours
}

#[test]
fn every_chart_renders_a_single_huge_spike() {
    all_charts_are_sound(&Synth::new(500).blob(|i| if i == 250 { 90_000.0 } else { btc_like(i) }));
}

#[test]
fn every_chart_renders_tiny_prices() {
    let blob = Synth {
        symbol: "SHIBUSDT",
        ..Synth::new(600)
    }
    .blob(|i| btc_like(i) * 5e-10);
    all_charts_are_sound(&blob);
}

#[test]
fn every_chart_renders_large_prices() {
    all_charts_are_sound(&Synth::new(600).blob(|i| btc_like(i) * 4.0));
}

#[test]
fn every_chart_renders_a_window_with_gaps_in_time() {
    let blob = Synth {
        gaps: vec![100, 400],
        ..Synth::new(700)
    }
    .blob(btc_like);
    all_charts_are_sound(&blob);
}

/// A blob from `tests/fixtures`.
fn fixture(name: &str) -> Blob {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Blob::decode(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_chart_renders_the_real_btc_five_minute_reference_window() {
    all_charts_are_sound(&fixture("BTCUSDT-5m-864.msgpack"));
}

#[test]
fn every_chart_renders_a_real_window_of_forty_hourly_candles() {
    let blob = fixture("BTCUSDT-1h-40-short.msgpack");
    assert!(blob.header.levels_used < 8);
    all_charts_are_sound(&blob);
}

#[test]
fn titles_name_symbol_interval_window_source_and_backend() {
    let blob = fixture("BTCUSDT-5m-864.msgpack");
    let options = RenderOptions {
        format: ImageFormat::Svg,
        ..RenderOptions::for_plot(PlotId::Signals)
    };
    let svg = String::from_utf8(render(&blob, PlotId::Signals, &options).unwrap()).unwrap();
    for text in [
        "BTCUSDT · 5m · Trading signals",
        "2022-08-14 00:00",
        "2022-08-16 23:55",
        &blob.header.source_label,
        "analysis: cpu on",
    ] {
        assert!(svg.contains(text), "no {text:?} in the SVG");
    }
}

#[test]
fn a_time_zone_moves_the_dates_and_names_itself() {
    let blob = fixture("BTCUSDT-5m-864.msgpack");
    for (zone, first, last) in [
        ("Asia/Kolkata", "2022-08-14 05:30", "2022-08-17 05:25"),
        ("America/New_York", "2022-08-13 20:00", "2022-08-16 19:55"),
    ] {
        let options = RenderOptions {
            format: ImageFormat::Svg,
            zone: TimeZone::parse(zone).unwrap(),
            ..RenderOptions::for_plot(PlotId::Anomalies)
        };
        let svg = String::from_utf8(render(&blob, PlotId::Anomalies, &options).unwrap()).unwrap();
        for text in [first, last, &format!("time ({zone})")] {
            assert!(svg.contains(text), "{zone}: no {text:?} in the SVG");
        }
        assert!(!svg.contains("UTC"), "{zone}: UTC still named");
    }
}

#[test]
fn band_periods_are_labelled_in_wall_clock_time() {
    let blob = fixture("BTCUSDT-5m-864.msgpack");
    let options = RenderOptions {
        format: ImageFormat::Svg,
        ..RenderOptions::for_plot(PlotId::Bands)
    };
    let svg = String::from_utf8(render(&blob, PlotId::Bands, &options).unwrap()).unwrap();
    for text in ["D1 · 10–20 min", "D4 · 1.3–2.7 h", "D8 · 21.3–42.7 h"] {
        assert!(svg.contains(text), "no {text:?} in the SVG");
    }
}

/// Drawn again, in the other order, each chart is byte for byte the same: nothing of the
/// chart drawn before it (whose pixel buffer it may reuse, whose glyphs it may take from
/// the cache) shows.
#[test]
fn the_same_blob_gives_byte_identical_images() {
    let blob = Synth::new(864).blob(btc_like);
    let draw = |plot| render(&blob, plot, &RenderOptions::for_plot(plot)).unwrap();
    let first: Vec<Vec<u8>> = PlotId::ALL.into_iter().map(draw).collect();
    for (plot, first) in PlotId::ALL.into_iter().zip(first).rev() {
        assert!(draw(plot) == first, "{plot} differs when drawn again");
    }
}

#[test]
fn width_and_height_are_honoured() {
    let blob = Synth::new(864).blob(btc_like);
    let options = RenderOptions {
        width: 800,
        height: 600,
        ..RenderOptions::for_plot(PlotId::Bands)
    };
    let (w, h, _) = decode(&render(&blob, PlotId::Bands, &options).unwrap());
    assert_eq!((w, h), (800, 600));
}

#[test]
fn svg_output_is_an_svg_document() {
    let blob = Synth::new(200).blob(btc_like);
    let options = RenderOptions {
        format: ImageFormat::Svg,
        ..RenderOptions::for_plot(PlotId::Overview)
    };
    let svg = String::from_utf8(render(&blob, PlotId::Overview, &options).unwrap()).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
    assert!(svg.contains("BTCUSDT"));
}

#[test]
fn a_size_outside_the_limits_is_refused() {
    let blob = Synth::new(100).blob(btc_like);
    let options = RenderOptions {
        width: 10,
        height: 600,
        ..RenderOptions::for_plot(PlotId::Overview)
    };
    let e = render(&blob, PlotId::Overview, &options)
        .unwrap_err()
        .to_string();
    assert!(e.contains("10×600"), "{e}");
}

/// A plotter reads only the parts of a blob its chart draws. Every chart drawn from
/// those parts is byte-identical to the chart drawn from the whole blob, with the
/// trend at a level other than the last, and without any part it draws the chart is
/// refused with the series named, not a panic.
#[test]
fn each_chart_drawn_from_its_parts_is_the_chart_of_the_whole_blob() {
    let mut whole = fixture("BTCUSDT-5m-864.msgpack");
    assert!(whole.header.levels_used > 3, "levels to skip");
    let bytes = whole.encode().unwrap();
    for plot in PlotId::ALL {
        let options = RenderOptions::for_plot(plot);
        let (part, parts) =
            Blob::decode_parts(&bytes[..], |h| Ok(waveplot_plotter::parts(plot, h))).unwrap();
        assert_ne!(part, whole, "{plot} skips something");
        assert_eq!(
            render(&part, plot, &options).unwrap(),
            render(&whole, plot, &options).unwrap(),
            "{plot}"
        );
        let mut lacking = part.clone();
        lacking.candles.close.clear();
        let err = render(&lacking, plot, &options).unwrap_err().to_string();
        assert!(err.contains("close has 0 values"), "{plot}: {err}");
        if !matches!(parts.smooths, waveplot_protocol::blob::Levels::None) {
            let mut other = part;
            other.analysis.signals.trend_level = 1;
            let err = render(&other, plot, &options).unwrap_err().to_string();
            assert!(err.contains("signals follow smooth S1"), "{plot}: {err}");
        }
    }
    whole.candles.volume.clear();
    let err = render(
        &whole,
        PlotId::Overview,
        &RenderOptions::for_plot(PlotId::Overview),
    );
    assert!(err.unwrap_err().to_string().contains("volume has 0 values"));
}
