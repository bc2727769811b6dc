//! [`Bitmap`]: plotters' bitmap backend with text drawn where each glyph belongs.
//!
//! plotters 0.3.7 rasterises text with ab_glyph but places every glyph's bitmap at the
//! pen position, dropping the glyph's left side bearing, and rounds the pen down per
//! glyph. Narrow glyphs in a wide advance then sit too far left: DejaVu's tabular `1`
//! leaves a gap after it ("2022-08-1 5"), as do `l`, `i` and `T` ("fil e", "USD T").
//! Its layout (the advances and kerning that size and anchor a text) is right, so
//! only the drawing is replaced: the same vertical placement, each glyph outlined at
//! its exact sub-pixel pen position. Polygons are filled by [`crate::fill`], with
//! plotters' own pixels in less time; everything else goes to the bitmap backend
//! unchanged. The SVG backend writes `<text>` and is not affected.
//!
//! Outlining and rasterising a glyph cost about a tenth of a chart's drawing, and the
//! charts write the same labels render after render, so each glyph's coverage is
//! kept in a bounded cache ([`GLYPH_CACHE_BYTES`]) keyed by everything it depends on:
//! the face, the glyph, the size and the exact pen position within its text (a text
//! starts on a whole pixel, so that position fixes the sub-pixel offset). A glyph
//! drawn from the cache has the very coverage it would be drawn with afresh.

use std::sync::{Arc, OnceLock};

use ab_glyph::{Font as _, FontRef, GlyphId, PxScaleFont, ScaleFont as _, point};
use plotters::backend::BitMapBackend;
use plotters_backend::text_anchor::Pos;
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontFamily, FontStyle, FontTransform,
};
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::{charts, fill};

/// A [`BitMapBackend`] whose text is drawn by [`Placed`] and whose polygons are filled
/// by [`fill::fill_polygon`] (the same pixels as plotters' fill, faster). It forwards
/// what the bitmap backend implements itself; paths and circles use the trait's
/// default methods, which draw through those, exactly as they would on the bitmap
/// backend.
pub(crate) struct Bitmap<'a>(pub(crate) BitMapBackend<'a>);

type Error<'a> = DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for Bitmap<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Error<'a>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Error<'a>> {
        self.0.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Error<'a>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Error<'a>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Error<'a>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Error<'a>> {
        self.0.draw_text(text, &Placed(style), pos)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), Error<'a>> {
        self.0.estimate_text_size(text, &Placed(style))
    }

    /// [`fill::fill_polygon`]: plotters' pixels, faster. Lines wider than a pixel are
    /// filled here too (the trait's `draw_path` outlines them as one polygon).
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vertices: I,
        style: &S,
    ) -> Result<(), Error<'a>> {
        let vertices: Vec<BackendCoord> = vertices.into_iter().collect();
        fill::fill_polygon(self, &vertices, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        (w, h): (u32, u32),
        src: &[u8],
    ) -> Result<(), Error<'a>> {
        self.0.blit_bitmap(pos, (w, h), src)
    }
}

/// A text style that lays out and draws the charts' own fonts glyph by glyph at their
/// true positions, in the style asked for (plotters keeps the regular face's data when
/// a font is made bold, so its PNG titles were never bold); any other family is left
/// to the style itself.
struct Placed<'s, S>(&'s S);

impl<S: BackendTextStyle> BackendTextStyle for Placed<'_, S> {
    type FontError = S::FontError;

    fn color(&self) -> BackendColor {
        self.0.color()
    }

    fn size(&self) -> f64 {
        self.0.size()
    }

    fn transform(&self) -> FontTransform {
        self.0.transform()
    }

    fn style(&self) -> FontStyle {
        self.0.style()
    }

    fn anchor(&self) -> Pos {
        self.0.anchor()
    }

    fn family(&self) -> FontFamily<'_> {
        self.0.family()
    }

    /// plotters' box: the advances and kerning wide, `size / 1.24` high.
    fn layout_box(&self, text: &str) -> Result<((i32, i32), (i32, i32)), Self::FontError> {
        let Some(font) = font_of(self.0.family(), self.0.style()) else {
            return self.0.layout_box(text);
        };
        let size = self.0.size();
        let (_, width) = pen_positions(&font.as_scaled(size as f32), text);
        Ok(((0, 0), (width as i32, (size / 1.24) as i32)))
    }

    fn draw<E, F: FnMut(i32, i32, BackendColor) -> Result<(), E>>(
        &self,
        text: &str,
        (x0, y0): BackendCoord,
        mut draw: F,
    ) -> Result<Result<(), E>, Self::FontError> {
        let Some(font) = font_of(self.0.family(), self.0.style()) else {
            return self.0.draw(text, (x0, y0), draw);
        };
        let size = self.0.size() as f32;
        let scaled = font.as_scaled(size);
        let BackendColor { alpha, rgb } = self.0.color();
        let bold = matches!(self.0.style(), FontStyle::Bold);
        for (id, pen) in pen_positions(&scaled, text).0 {
            let key = GlyphKey {
                bold,
                glyph: id.0,
                size: size.to_bits(),
                pen: pen.to_bits(),
            };
            let Some(glyph) = coverage(key, || rasterise(&scaled, id, size, pen)) else {
                continue;
            };
            let (left, top) = (x0 + glyph.left, y0 + glyph.top);
            // Pixels the glyph does not cover are skipped: the bitmap backend leaves
            // a pixel drawn with no opacity as it is.
            let covered = glyph.coverage.iter().enumerate().filter(|(_, c)| **c > 0.0);
            for (i, &c) in covered {
                let (x, y) = (i % glyph.width, i / glyph.width);
                let color = BackendColor {
                    alpha: alpha * f64::from(c),
                    rgb,
                };
                if let Err(e) = draw(left + x as i32, top + y as i32, color) {
                    return Ok(Err(e));
                }
            }
        }
        Ok(Ok(()))
    }
}

/// Most bytes of glyph coverage kept between texts and renders (about 4 000 glyphs of
/// the charts' label sizes).
const GLYPH_CACHE_BYTES: u64 = 2 << 20;

/// What a glyph's coverage depends on: the face, the glyph, the size and the pen
/// position within its text (sizes and positions as their exact bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct GlyphKey {
    bold: bool,
    glyph: u16,
    size: u32,
    pen: u32,
}

/// A rasterised glyph: its coverage row by row, `width` wide, whose first pixel lies
/// `(left, top)` from the text's origin.
#[derive(Debug)]
struct Coverage {
    left: i32,
    top: i32,
    width: usize,
    coverage: Box<[f32]>,
}

/// Weighs a glyph by its coverage's bytes.
#[derive(Debug, Clone)]
struct ByBytes;

impl Weighter<GlyphKey, Option<Arc<Coverage>>> for ByBytes {
    fn weight(&self, _key: &GlyphKey, glyph: &Option<Arc<Coverage>>) -> u64 {
        let bytes = glyph.as_ref().map_or(0, |g| g.coverage.len() * 4);
        bytes as u64 + 32
    }
}

/// The coverage of the glyph at `key`, from the cache or made by `make` (`None`: a
/// glyph with no outline, such as a space).
fn coverage(key: GlyphKey, make: impl FnOnce() -> Option<Coverage>) -> Option<Arc<Coverage>> {
    static CACHE: OnceLock<Cache<GlyphKey, Option<Arc<Coverage>>, ByBytes>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Cache::with_weighter(4096, GLYPH_CACHE_BYTES, ByBytes));
    cache
        .get_or_insert_with(&key, || {
            Ok::<_, std::convert::Infallible>(make().map(Arc::new))
        })
        .unwrap_or_else(|never| match never {})
}

/// Outlines and rasterises glyph `id` at `size` with the pen at `pen`.
fn rasterise(
    font: &PxScaleFont<&FontRef<'static>>,
    id: GlyphId,
    size: f32,
    pen: f32,
) -> Option<Coverage> {
    let glyph = id.with_scale_and_position(size, point(pen, 0.0));
    let outline = font.outline_glyph(glyph)?;
    // plotters' vertical placement, the bitmap's top at half the size plus its offset
    // above the baseline, but rounded down for every glyph alike (plotters truncates
    // toward zero, which lifts a glyph reaching above that line by a pixel against
    // the others).
    let bounds = outline.px_bounds();
    let width = bounds.width() as usize;
    let mut coverage = vec![0f32; width * bounds.height() as usize].into_boxed_slice();
    outline.draw(|x, y, c| {
        if let Some(cell) = coverage.get_mut(y as usize * width + x as usize) {
            *cell = c;
        }
    });
    Some(Coverage {
        left: bounds.min.x as i32,
        top: (size / 2.0 + bounds.min.y).floor() as i32,
        width,
        coverage,
    })
}

/// Each glyph of `text` with the pen position it starts at (advances plus kerning),
/// and where the pen ends.
fn pen_positions(font: &PxScaleFont<&FontRef<'static>>, text: &str) -> (Vec<(GlyphId, f32)>, f32) {
    let (mut pen, mut previous) = (0f32, None);
    let glyphs = text
        .chars()
        .map(|c| {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                pen += font.kern(p, id);
            }
            previous = Some(id);
            let at = pen;
            pen += font.h_advance(id);
            (id, at)
        })
        .collect();
    (glyphs, pen)
}

/// The parsed chart font of `style`, if `family` is the charts' family.
fn font_of(family: FontFamily<'_>, style: FontStyle) -> Option<&'static FontRef<'static>> {
    static FONTS: OnceLock<Option<(FontRef<'static>, FontRef<'static>)>> = OnceLock::new();
    if family.as_str() != charts::FAMILY {
        return None;
    }
    let (regular, bold) = FONTS
        .get_or_init(|| {
            let parse = |style| FontRef::try_from_slice(charts::font_file(style)).ok();
            Some((parse(FontStyle::Normal)?, parse(FontStyle::Bold)?))
        })
        .as_ref()?;
    Some(if matches!(style, FontStyle::Bold) {
        bold
    } else {
        regular
    })
}

#[cfg(test)]
mod tests {
    use plotters::prelude::*;
    use plotters::style::IntoFont;

    use super::*;

    /// Draws `text` at 40 px in the charts' family, black on white; the RGB pixels.
    fn drawn(text: &str, style: FontStyle) -> (Vec<u8>, (u32, u32)) {
        charts::register_fonts().unwrap();
        let size = (200, 80);
        let mut rgb = vec![255u8; 200 * 80 * 3];
        {
            let root = Bitmap(BitMapBackend::with_buffer(&mut rgb, size)).into_drawing_area();
            let font = (charts::FAMILY, 40.0)
                .into_font()
                .style(style)
                .color(&BLACK);
            root.draw_text(text, &font, (0, 20)).unwrap();
            root.present().unwrap();
        }
        (rgb, size)
    }

    /// The columns holding ink, left to right.
    fn inked_columns((rgb, (w, h)): &(Vec<u8>, (u32, u32))) -> Vec<u32> {
        (0..*w)
            .filter(|&x| (0..*h).any(|y| rgb[((y * w + x) * 3) as usize] < 128))
            .collect()
    }

    #[test]
    fn a_glyph_keeps_its_left_side_bearing() {
        let font = FontRef::try_from_slice(charts::font_file(FontStyle::Normal)).unwrap();
        let scaled = font.as_scaled(40.0);
        let bearing = scaled.h_side_bearing(scaled.glyph_id('1'));
        assert!(
            bearing > 3.0,
            "DejaVu's tabular 1 sits inside a wide advance: {bearing}"
        );
        let first = inked_columns(&drawn("1", FontStyle::Normal))[0];
        assert!(
            (f64::from(first) - f64::from(bearing)).abs() <= 1.0,
            "ink starts at {first}, the bearing is {bearing}"
        );
    }

    #[test]
    fn a_glyph_at_each_pen_position_is_cached_apart_as_drawn_afresh() {
        let font = font_of(FontFamily::Name(charts::FAMILY), FontStyle::Normal).unwrap();
        let size = 13.0;
        let scaled = font.as_scaled(size);
        // The same glyphs at several sub-pixel pen positions.
        let (glyphs, _) = pen_positions(&scaled, "7x7.7 x77");
        let key = |id: GlyphId, pen: f32| GlyphKey {
            bold: false,
            glyph: id.0,
            size: size.to_bits(),
            pen: pen.to_bits(),
        };
        for &(id, pen) in &glyphs {
            coverage(key(id, pen), || rasterise(&scaled, id, size, pen));
        }
        for &(id, pen) in &glyphs {
            let cached = coverage(key(id, pen), || panic!("{id:?} at {pen} was not cached"));
            let fresh = rasterise(&scaled, id, size, pen);
            match (cached, fresh) {
                (Some(cached), Some(fresh)) => {
                    assert_eq!(
                        (cached.left, cached.top, cached.width),
                        (fresh.left, fresh.top, fresh.width),
                        "{id:?} at {pen}"
                    );
                    assert_eq!(cached.coverage, fresh.coverage, "{id:?} at {pen}");
                }
                (cached, fresh) => assert_eq!(cached.is_none(), fresh.is_none(), "{id:?}"),
            }
        }
    }

    #[test]
    fn bold_text_is_drawn_bold() {
        let ink = |style| {
            let (rgb, _) = drawn("Price", style);
            rgb.iter().filter(|&&v| v < 128).count()
        };
        let (regular, bold) = (ink(FontStyle::Normal), ink(FontStyle::Bold));
        assert!(
            bold > regular * 5 / 4,
            "bold {bold} vs regular {regular} dark values"
        );
    }
}
