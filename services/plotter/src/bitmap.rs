//! [`Bitmap`]: plotters' bitmap backend with text drawn where each glyph belongs.
//!
//! plotters 0.3.7 rasterises text with ab_glyph but places every glyph's bitmap at the
//! pen position, dropping the glyph's left side bearing, and rounds the pen down per
//! glyph. Narrow glyphs in a wide advance then sit too far left: DejaVu's tabular `1`
//! leaves a gap after it ("2022-08-1 5"), as do `l`, `i` and `T` ("fil e", "USD T").
//! Its layout (the advances and kerning that size and anchor a text) is right, so
//! only the drawing is replaced: the same vertical placement, each glyph outlined at
//! its exact sub-pixel pen position. Everything else goes to the bitmap backend
//! unchanged. The SVG backend writes `<text>` and is not affected.

use std::sync::OnceLock;

use ab_glyph::{Font as _, FontRef, GlyphId, PxScaleFont, ScaleFont as _, point};
use plotters::backend::BitMapBackend;
use plotters_backend::text_anchor::Pos;
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontFamily, FontStyle, FontTransform,
};

use crate::charts;

/// A [`BitMapBackend`] whose text is drawn by [`Placed`]. It forwards what the bitmap
/// backend implements itself; paths, circles and polygons use the trait's default
/// methods, which draw through those, exactly as they would on the bitmap backend.
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
        for (id, pen) in pen_positions(&scaled, text).0 {
            let glyph = id.with_scale_and_position(size, point(pen, 0.0));
            let Some(outline) = scaled.outline_glyph(glyph) else {
                continue;
            };
            // plotters' vertical placement, the bitmap's top at half the size plus its
            // offset above the baseline, but rounded down for every glyph alike (plotters
            // truncates toward zero, which lifts a glyph reaching above that line by a
            // pixel against the others).
            let bounds = outline.px_bounds();
            let (left, top) = (
                bounds.min.x as i32,
                (size / 2.0 + bounds.min.y).floor() as i32,
            );
            let mut drawn = Ok(());
            outline.draw(|x, y, coverage| {
                if drawn.is_ok() {
                    let color = BackendColor {
                        alpha: alpha * f64::from(coverage),
                        rgb,
                    };
                    drawn = draw(x0 + left + x as i32, y0 + top + y as i32, color);
                }
            });
            if drawn.is_err() {
                return Ok(drawn);
            }
        }
        Ok(Ok(()))
    }
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
