//! Colours, fonts and sizes shared by the six charts. Fonts are compiled into the
//! binary and registered with plotters once, so containers need no fontconfig; an SVG
//! carries subsets of the same fonts. Sizes scale with the image, so a 4800×3600
//! render reads like the 1280×720 one.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use plotters::style::{
    Color, FontStyle, IntoFont, RGBAColor, RGBColor, ShapeStyle, TextStyle, register_font,
};

use crate::error::RenderError;

/// The family plotters asks its font registry for, and the `font-family` an SVG
/// names: DejaVu Sans, then the viewer's sans-serif for a character the SVG's
/// subset lacks.
pub(crate) const FAMILY: &str = "DejaVu Sans, sans-serif";
static REGULAR: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/DejaVuSans-Bold.ttf");
/// The characters the SVG font subsets hold (CSS `unicode-range` syntax): ASCII,
/// Latin-1, Greek and the dashes, arrows and signs the charts write.
/// `assets/svg-fonts.py` reads this line to cut the subsets.
pub(crate) const SVG_UNICODE_RANGE: &str = "U+0020-007E, U+00A0-00FF, U+0391-03C9, U+2009, U+2013-2014, U+2026, U+20AC, U+2122, U+2190-2193, U+2212, U+2264-2265, U+25B2, U+25BC";
static SVG_REGULAR: &[u8] = include_bytes!("../../assets/DejaVuSans-svg.woff2");
static SVG_BOLD: &[u8] = include_bytes!("../../assets/DejaVuSans-Bold-svg.woff2");

/// Close price and other "the market itself" lines.
pub(crate) const PRICE: RGBColor = RGBColor(31, 100, 180);
/// The trend smooth.
pub(crate) const TREND: RGBColor = RGBColor(235, 125, 0);
/// The finest detail D1.
pub(crate) const DETAIL: RGBColor = RGBColor(40, 120, 200);
/// Anomalies and their thresholds.
pub(crate) const ALERT: RGBColor = RGBColor(210, 35, 40);
/// Rising candles and BUY signals.
pub(crate) const UP: RGBColor = RGBColor(20, 150, 80);
/// Falling candles and SELL signals.
pub(crate) const DOWN: RGBColor = RGBColor(210, 50, 50);
/// Secondary lines (the previous smooth, zero lines).
pub(crate) const MUTED: RGBColor = RGBColor(120, 120, 120);
/// Text.
pub(crate) const INK: RGBColor = RGBColor(30, 30, 30);
/// Grid lines.
pub(crate) const GRID: RGBColor = RGBColor(228, 228, 228);
/// Magnitude |D1| in the anomaly chart.
pub(crate) const MAGNITUDE: RGBColor = RGBColor(120, 60, 160);

/// Band colours from the finest (warm) to the coarsest (cool) level, darkened where
/// the original's yellows were unreadable on white.
const LEVELS: [RGBColor; 8] = [
    RGBColor(215, 40, 40),
    RGBColor(235, 120, 0),
    RGBColor(190, 150, 0),
    RGBColor(110, 160, 20),
    RGBColor(20, 140, 60),
    RGBColor(20, 130, 200),
    RGBColor(40, 60, 190),
    RGBColor(130, 40, 170),
];

/// The embedded font file of `style` (bold, or regular for every other style).
pub(crate) fn font_file(style: FontStyle) -> &'static [u8] {
    if matches!(style, FontStyle::Bold) {
        BOLD
    } else {
        REGULAR
    }
}

/// Registers the embedded fonts with plotters; later calls are free.
pub(crate) fn register_fonts() -> Result<(), RenderError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = DONE.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, font_file(FontStyle::Normal)).is_ok()
            && register_font(FAMILY, FontStyle::Bold, font_file(FontStyle::Bold)).is_ok()
    });
    if *ok { Ok(()) } else { Err(RenderError::Font) }
}

/// A CSS block declaring the SVG font subsets as DejaVu Sans, built once.
pub(crate) fn svg_font_faces() -> &'static str {
    static CSS: OnceLock<String> = OnceLock::new();
    CSS.get_or_init(|| {
        [("normal", SVG_REGULAR), ("bold", SVG_BOLD)]
            .iter()
            .map(|(weight, woff2)| {
                format!(
                    "@font-face{{font-family:\"DejaVu Sans\";font-weight:{weight};\
                     unicode-range:{SVG_UNICODE_RANGE};\
                     src:url(data:font/woff2;base64,{}) format(\"woff2\")}}",
                    BASE64.encode(woff2)
                )
            })
            .collect()
    })
}

/// The colour of level `j` (1-based) of `levels`, spread over the palette.
pub(crate) fn level_colour(j: usize, levels: usize) -> RGBColor {
    if levels <= 1 {
        return LEVELS[0];
    }
    let x = (j.saturating_sub(1)) as f64 / (levels - 1) as f64 * (LEVELS.len() - 1) as f64;
    let (i, f) = (x.floor() as usize, x.fract());
    let (a, b) = (LEVELS[i], LEVELS[(i + 1).min(LEVELS.len() - 1)]);
    let mix = |p: u8, q: u8| (f64::from(p) + (f64::from(q) - f64::from(p)) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Sizes, scaled to the image.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Theme {
    scale: f64,
}

impl Theme {
    /// The theme of a `width`×`height` image whose natural size is `natural`.
    pub(crate) fn new(width: u32, height: u32, natural: (u32, u32)) -> Self {
        let by_w = f64::from(width) / f64::from(natural.0);
        let by_h = f64::from(height) / f64::from(natural.1);
        Self {
            scale: by_w.min(by_h).clamp(0.75, 4.0),
        }
    }

    /// `base` pixels at 1280 px wide, scaled.
    pub(crate) fn px(&self, base: f64) -> i32 {
        (base * self.scale).round() as i32
    }

    /// Like [`Theme::px`], unsigned, for plotters' area sizes.
    pub(crate) fn upx(&self, base: f64) -> u32 {
        self.px(base).max(0) as u32
    }

    /// Regular text of `size` base pixels.
    pub(crate) fn text(&self, size: f64) -> TextStyle<'static> {
        (FAMILY, size * self.scale).into_font().color(&INK)
    }

    /// Bold text of `size` base pixels.
    pub(crate) fn bold(&self, size: f64) -> TextStyle<'static> {
        (FAMILY, size * self.scale)
            .into_font()
            .style(FontStyle::Bold)
            .color(&INK)
    }

    /// Grey text of `size` base pixels.
    pub(crate) fn muted(&self, size: f64) -> TextStyle<'static> {
        (FAMILY, size * self.scale).into_font().color(&MUTED)
    }

    /// A line of `colour`, `width` base pixels wide.
    pub(crate) fn line(&self, colour: impl Into<RGBAColor>, width: f64) -> ShapeStyle {
        let c: RGBAColor = colour.into();
        c.stroke_width(self.upx(width).max(1))
    }
}
