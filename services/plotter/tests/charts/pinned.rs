//! The pixels of every chart of a 100 000-candle window, pinned by their SHA-256, at
//! several sizes and with gaps in time: the guard for reworking the chart code (the
//! chart-ready form of the bounded-resources work must not change a pixel). Pixels, not
//! PNG bytes, so a change of encoder passes. A deliberate change to how charts look, or
//! a new plotters or font, is pinned again with
//! `WAVEPLOT_BLESS=1 cargo test -p waveplot-plotter --test charts pinned`, after looking
//! at the charts. (The synthetic prices use libm's `sin`; a last-bit difference between
//! libm builds would have to carry a value across a pixel or a printed digit to show,
//! which for 24 000-USDT prices on a 700-px axis is about one chance in 10^12 a value.)

use sha2::{Digest, Sha256};
use waveplot_plotter::{RenderOptions, render, render_scene, scene};
use waveplot_protocol::{Blob, PlotId, Scene};

use crate::decode;
use crate::helpers::Synth;

const PINNED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/charts/pinned.txt");

/// A long, BTC-like walk that stays positive over a hundred thousand candles.
fn long_walk(i: usize) -> f64 {
    let x = i as f64;
    let noise = ((x * 12.9898).sin() * 43_758.545).fract() - 0.5;
    24_000.0
        + 3_000.0 * (x / 15_000.0).sin()
        + 400.0 * (x / 140.0).sin()
        + 120.0 * (x / 23.0).sin()
        + 25.0 * noise
}

/// `<window> <plot> <w>x<h> <sha256 of width, height and RGB pixels>` for each chart,
/// drawn from the blob or, with `scenes`, recorded as a scene, encoded, decoded and
/// replayed (the chart-ready form prepare stores and the plotters draw).
fn lines(window: &str, blob: &Blob, sizes: &[Option<(u32, u32)>], scenes: bool) -> Vec<String> {
    let mut out = Vec::new();
    for plot in PlotId::ALL {
        for size in sizes {
            let (width, height) = size.unwrap_or(plot.default_size());
            let options = RenderOptions {
                width,
                height,
                ..RenderOptions::for_plot(plot)
            };
            let png = if scenes {
                let recorded = scene(blob.view(), plot, (width, height), &options.zone)
                    .unwrap_or_else(|e| panic!("{plot}: {e}"));
                let bytes = recorded.encode().unwrap();
                println!(
                    "{window} {plot} {width}x{height}: a scene of {} bytes, {:.2} pixel writes a pixel",
                    bytes.len(),
                    recorded.work() as f64 / f64::from(width * height)
                );
                render_scene(&Scene::decode(&bytes).unwrap()).unwrap()
            } else {
                render(blob, plot, &options).unwrap_or_else(|e| panic!("{plot}: {e}"))
            };
            let (w, h, rgb) = decode(&png);
            let mut digest = Sha256::new();
            digest.update(w.to_le_bytes());
            digest.update(h.to_le_bytes());
            digest.update(&rgb);
            let hex: String = digest
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            out.push(format!("{window} {plot} {w}x{h} {hex}"));
        }
    }
    out
}

/// The windows and sizes pinned: a plain window at four sizes, and one with gaps.
fn pinned(scenes: bool) -> String {
    let sizes = [None, Some((960, 540)), Some((1920, 1080)), Some((600, 900))];
    let mut now = lines(
        "plain",
        &Synth::new(100_000).blob(long_walk),
        &sizes,
        scenes,
    );
    let gapped = Synth {
        gaps: vec![20_000, 20_001, 61_000],
        ..Synth::new(100_000)
    };
    now.extend(lines("gaps", &gapped.blob(long_walk), &[None], scenes));
    now.join("\n") + "\n"
}

/// Compares `text` with the pinned lines.
fn check(text: &str, how: &str) {
    let pinned = std::fs::read_to_string(PINNED).unwrap_or_default();
    let changed: Vec<&str> = text
        .lines()
        .filter(|line| !pinned.lines().any(|p| p == *line))
        .collect();
    assert!(
        changed.is_empty() && pinned == text,
        "these charts' pixels, {how}, differ from tests/charts/pinned.txt:\n{}\nif the change is meant, look at the charts and run \
         `WAVEPLOT_BLESS=1 cargo test -p waveplot-plotter --test charts pinned`",
        changed.join("\n")
    );
}

#[test]
fn the_pixels_of_a_hundred_thousand_candle_window_are_pinned() {
    let text = pinned(false);
    if std::env::var_os("WAVEPLOT_BLESS").is_some() {
        std::fs::write(PINNED, &text).unwrap();
    }
    check(&text, "drawn from the blob");
}

/// Every pinned chart, recorded as a scene and replayed, has the very pixels drawing
/// it from the blob gives (they are compared with the pins, not with each other, so
/// the pins must hold too).
#[test]
fn scenes_replay_the_pinned_pixels() {
    check(&pinned(true), "replayed from scenes");
}

/// Chart 04's scene grows with its pixels, not with its BUY and SELL stretches: where
/// they are denser than pixels, eight times the candles and the stretches make a
/// scene less than three times as large (the shades are kept as a few runs a pixel
/// column, the markers of one kind at one pixel as one; a scene a stretch grew about
/// eightfold, to over 16 MiB for a million candles of a random walk).
#[test]
fn the_signal_chart_scene_follows_its_pixels_not_its_stretches() {
    let plot = PlotId::Signals;
    let bytes = |n: usize| {
        let blob = Synth::new(n).blob(noisy);
        let recorded = scene(blob.view(), plot, plot.default_size(), &Default::default());
        let stretches = stretches(&blob);
        let len = recorded.unwrap().encode().unwrap().len();
        println!("{n} candles, {stretches} stretches: a scene of {len} bytes");
        (len, stretches)
    };
    let (small, few) = bytes(100_000);
    let (large, many) = bytes(800_000);
    assert!(many > 6 * few, "{few} and {many} stretches");
    assert!(large < 3 * small, "{small} bytes, then {large}");
}

/// A price whose noise crosses the trend's buffer every few candles.
fn noisy(i: usize) -> f64 {
    let x = i as f64;
    24_000.0
        + 3_000.0 * (x / 50_000.0).sin()
        + 200.0 * (((x * 12.9898).sin() * 43_758.545).fract() - 0.5)
}

/// The BUY and SELL stretches of `blob`.
fn stretches(blob: &Blob) -> usize {
    use waveplot_protocol::blob::Signal;
    let s = &blob.analysis.signals.signal;
    (0..s.len())
        .filter(|&i| s[i] != Signal::Hold && (i == 0 || s[i - 1] != s[i]))
        .count()
}
