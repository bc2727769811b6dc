//! Filling a polygon as plotters 0.3.7 does, pixel for pixel, in a fraction of its time.
//!
//! plotters fills every polygon, and draws every line wider than a pixel (it outlines
//! the line as one polygon), with a sweep: along the polygon's longer side, one pixel
//! line at a time, it keeps the edges crossing that line in order of where they cross
//! and fills between them in pairs, blending the end pixels by their coverage. Its code
//! builds a new list of edges for every line and recomputes each edge's crossing (a
//! division) at every comparison of the sort. The 2-pixel lines of charts 02a and 02b
//! are polygons of thousands of edges: that bookkeeping was about a quarter of drawing
//! them, and about a tenth of a live update's CPU.
//!
//! [`fill_polygon`] keeps one list, updated in place, and computes each crossing once
//! per line; the order of the edges (a stable sort of the same values), the spans and
//! the pixels it draws, and the order it draws them in, are plotters' own, so a chart
//! is the same image to the byte (the tests compare both on random polygons).

use std::cmp::Ordering;

use plotters_backend::{BackendCoord, BackendStyle, DrawingBackend, DrawingErrorKind};

/// An edge as the sweep meets it: it spans `total` sweep lines from its start, has
/// passed `epoch` of them, and runs from `begin` to `end` across the sweep.
#[derive(Debug, Clone, Copy)]
struct Edge {
    epoch: u32,
    total: u32,
    begin: i32,
    end: i32,
    /// Where it crosses the current sweep line, set once per line.
    at: f64,
}

impl Edge {
    /// The edge from `from` to `to`, given as (along the sweep, across it) with `from`
    /// first along it; none if it lies on one sweep line.
    fn new(from: BackendCoord, to: BackendCoord) -> Option<Edge> {
        let total = u32::try_from(to.0 - from.0).ok().filter(|&t| t > 0)?;
        Some(Edge {
            epoch: 0,
            total,
            begin: from.1,
            end: to.1,
            at: f64::from(from.1),
        })
    }

    /// Sweep lines left before its end.
    fn left(&self) -> u32 {
        self.total - self.epoch
    }

    /// Where it crosses the sweep line it stands at: plotters' expression, for the
    /// same bits.
    fn crossing(&self) -> f64 {
        f64::from(self.begin)
            + (i64::from(self.end - self.begin) * i64::from(self.epoch)) as f64
                / f64::from(self.total)
    }
}

/// Fills the polygon through `vertices` on `back` in `style`'s colour, exactly as
/// `plotters_backend::rasterizer::fill_polygon` does.
pub(crate) fn fill_polygon<DB: DrawingBackend, S: BackendStyle>(
    back: &mut DB,
    vertices: &[BackendCoord],
    style: &S,
) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
    let Some(&first) = vertices.first() else {
        return Ok(());
    };
    let span = |pick: fn(&BackendCoord) -> i32| {
        vertices
            .iter()
            .map(pick)
            .fold((pick(&first), pick(&first)), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let (x_span, y_span) = (span(|v| v.0), span(|v| v.1));
    // All on one line, vertical or horizontal: plotters draws that line.
    if x_span.0 == x_span.1 || y_span.0 == y_span.1 {
        return back.draw_line((x_span.0, y_span.0), (x_span.1, y_span.1), style);
    }
    // Sweep along the longer side; coordinates become (along the sweep, across it).
    let horizontal = x_span.1 - x_span.0 > y_span.1 - y_span.0;
    let turn = |v: BackendCoord| if horizontal { v } else { (v.1, v.0) };
    let last = vertices[vertices.len() - 1];
    let mut edges: Vec<(BackendCoord, BackendCoord)> = vertices
        .windows(2)
        .map(|w| (turn(w[0]), turn(w[1])))
        .chain(std::iter::once((turn(last), turn(first))))
        .map(|(a, b)| if a.0 > b.0 { (b, a) } else { (a, b) })
        .collect();
    // Stable, by where each edge starts, as plotters sorts them.
    edges.sort_by_key(|(a, _)| a.0);
    let (low, high) = if horizontal { x_span } else { y_span };
    let colour = style.color();
    let mut next = 0;
    let mut active: Vec<Edge> = Vec::new();
    for sweep in low..=high {
        active.retain_mut(|e| {
            let going = e.left() > 0;
            if going {
                e.epoch += 1;
            }
            going
        });
        while let Some(&(from, to)) = edges.get(next).filter(|(from, _)| from.0 <= sweep) {
            active.extend(Edge::new(from, to));
            next += 1;
        }
        for e in &mut active {
            e.at = e.crossing();
        }
        // Stable, as plotters' `sort`; crossings are never NaN (every total is > 0).
        active.sort_by(|a, b| a.at.partial_cmp(&b.at).unwrap_or(Ordering::Equal));
        let mut pair: (Option<Edge>, Option<Edge>) = (None, None);
        for &edge in &active {
            match pair {
                (None, _) => pair.0 = Some(edge),
                (Some(_), None) => pair.1 = Some(edge),
                (Some(_), Some(_)) => {}
            }
            let (Some(a), Some(b)) = pair else { continue };
            let (a_ends, b_ends) = (a.left() == 0, b.left() == 0);
            // An edge ending on this line pairs with the next one only if that ends
            // here too, and only when they are at most a pixel apart.
            if a_ends != b_ends {
                pair = (Some(if a_ends { b } else { a }), None);
                continue;
            }
            pair = (None, None);
            let (from, to) = (a.at, b.at);
            if a_ends && to - from > 1.0 {
                continue;
            }
            if horizontal {
                back.draw_line(
                    (sweep, from.ceil() as i32),
                    (sweep, to.floor() as i32),
                    &colour,
                )?;
                back.draw_pixel((sweep, from.floor() as i32), colour.mix(from.ceil() - from))?;
                back.draw_pixel((sweep, to.ceil() as i32), colour.mix(to - to.floor()))?;
            } else {
                back.draw_line(
                    (from.ceil() as i32, sweep),
                    (to.floor() as i32, sweep),
                    &colour,
                )?;
                back.draw_pixel((from.floor() as i32, sweep), colour.mix(from.ceil() - from))?;
                // plotters' sign, kept: the same pixels.
                back.draw_pixel((to.ceil() as i32, sweep), colour.mix(to.floor() - to))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use plotters::backend::BitMapBackend;
    use plotters_backend::{BackendColor, rasterizer};
    use proptest::prelude::*;

    use super::*;

    const SIZE: (u32, u32) = (64, 48);

    /// The pixels of `vertices` filled by `fill` in `colour` on a grey canvas.
    fn drawn(
        vertices: &[BackendCoord],
        colour: BackendColor,
        fill: impl Fn(&mut BitMapBackend<'_>, &[BackendCoord], &BackendColor),
    ) -> Vec<u8> {
        let mut rgb = vec![200u8; (SIZE.0 * SIZE.1 * 3) as usize];
        {
            let mut back = BitMapBackend::with_buffer(&mut rgb, SIZE);
            fill(&mut back, vertices, &colour);
            back.present().unwrap();
        }
        rgb
    }

    /// Vertices inside and around the canvas: some off it, many on shared lines.
    fn vertex() -> impl Strategy<Value = BackendCoord> {
        (-8i32..72, -8i32..56)
    }

    fn assert_same(vertices: &[BackendCoord], alpha: f64) {
        let colour = BackendColor {
            alpha,
            rgb: (20, 90, 160),
        };
        let theirs = drawn(vertices, colour, |back, v, c| {
            rasterizer::fill_polygon(back, v, c).unwrap();
        });
        let ours = drawn(vertices, colour, |back, v, c| {
            fill_polygon(back, v, c).unwrap();
        });
        assert_eq!(ours, theirs, "{vertices:?} at alpha {alpha}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_polygon_is_filled_as_plotters_fills_it(
            vertices in prop::collection::vec(vertex(), 1..40),
            alpha in prop_oneof![Just(1.0), 0.05f64..1.0],
        ) {
            assert_same(&vertices, alpha);
        }

        #[test]
        fn a_wide_line_is_filled_as_plotters_fills_it(
            points in prop::collection::vec(vertex(), 2..120),
            width in 2u32..5,
        ) {
            let outline = rasterizer::polygonize(&points, width);
            assert_same(&outline, 1.0);
        }
    }

    #[test]
    fn a_triangle_and_a_flat_polygon_are_drawn() {
        for (vertices, alpha) in [
            (vec![(2, 3), (60, 10), (20, 45)], 1.0),
            (vec![(5, 40), (50, 4), (30, 30), (8, 2)], 0.4),
            (vec![(3, 7), (40, 7), (12, 7)], 1.0),
        ] {
            let colour = BackendColor {
                alpha,
                rgb: (0, 0, 0),
            };
            let ours = drawn(&vertices, colour, |back, v, c| {
                fill_polygon(back, v, c).unwrap()
            });
            assert!(ours.iter().any(|&v| v < 150), "{vertices:?} drew nothing");
            assert_same(&vertices, alpha);
        }
    }

    #[test]
    fn an_empty_polygon_draws_nothing() {
        let colour = BackendColor {
            alpha: 1.0,
            rgb: (0, 0, 0),
        };
        let blank = drawn(&[], colour, |back, v, c| fill_polygon(back, v, c).unwrap());
        assert_eq!(blank, vec![200u8; blank.len()]);
    }
}
