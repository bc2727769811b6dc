//! Thinning a series to what its pixels show: the M4 aggregation (Jugel et al., "M4: A
//! Visualization-Oriented Time Series Data Aggregation", VLDB 2014). Per pixel column, the
//! first, lowest, highest and last point of a line draw the same pixels as all of its
//! points: plotters places every point on whole pixels, so within one column each segment
//! is vertical, and together they cover exactly the span from the lowest to the highest
//! point; the segments between columns join the same last and first points. A
//! million-candle line drawn 1 200 px wide becomes at most 4 800 points.
//!
//! A filled polygon thins the same way ([`polygon`]) when it is wider than tall in
//! pixels: plotters then fills it by sweeping one pixel column at a time, where an edge
//! inside a column adds nothing, so only the edges between columns count, and those
//! join the same last and first points. Keeping the lowest and highest point too keeps
//! the polygon's extent, which decides how plotters sweeps it.

/// The points of `points`, in order, that a line through them shows, each given with
/// its pixel column: per run of consecutive points in one column, the first, the
/// lowest, the highest and the last.
pub(crate) fn m4(points: impl IntoIterator<Item = (i32, (f64, f64))>) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut bucket: Option<Bucket> = None;
    for (i, (c, p)) in points.into_iter().enumerate() {
        match &mut bucket {
            Some(b) if b.column == c => b.add(i, p),
            _ => {
                if let Some(b) = bucket.take() {
                    b.flush(&mut out);
                }
                bucket = Some(Bucket::new(c, i, p));
            }
        }
    }
    if let Some(b) = bucket {
        b.flush(&mut out);
    }
    out
}

/// [`m4`] of the line through the points `(t[i], ys[i])`, the point `i` in pixel
/// column `columns[i]` (the three of one length): the same points, found a column's
/// run of points at a time, in a loop over its values, instead of a point at a time
/// through an iterator of tuples (a third of the time; a million-candle chart thins
/// tens of lines).
pub(crate) fn m4_series(columns: &[i32], t: &[f64], ys: &[f64]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < ys.len() {
        let column = columns[start];
        // The first lowest and the first highest, as `Bucket::add` keeps them, chosen
        // without branches: in a column of a noisy series either is a coin toss.
        let (mut low, mut high) = (start, start);
        let (mut lo, mut hi) = (ys[start], ys[start]);
        let mut end = start + 1;
        for (&c, &y) in columns[end..].iter().zip(&ys[end..]) {
            if c != column {
                break;
            }
            let (lower, higher) = (y < lo, y > hi);
            low = if lower { end } else { low };
            lo = if lower { y } else { lo };
            high = if higher { end } else { high };
            hi = if higher { y } else { hi };
            end += 1;
        }
        let mut four = [start, low, high, end - 1];
        four.sort_unstable();
        let mut previous = None;
        for i in four {
            if previous != Some(i) {
                out.push((t[i], ys[i]));
                previous = Some(i);
            }
        }
        start = end;
    }
    out
}

/// The vertices of a filled polygon, in order, thinned as [`m4`] does when that fills
/// the same pixels (the polygon, `extra` vertices included, is wider than tall in
/// pixels); otherwise all of them. `vertices` gives them afresh each time it is called,
/// each with its pixel column, so the whole polygon is never held unless it has to be
/// drawn whole; `px` places a vertex on the canvas.
pub(crate) fn polygon<I: Iterator<Item = (i32, (f64, f64))>>(
    vertices: impl Fn() -> I,
    extra: &[(f64, f64)],
    px: impl Fn((f64, f64)) -> (i32, i32),
) -> Vec<(f64, f64)> {
    let whole = || vertices().map(|(_, p)| p).collect();
    polygon_of(m4(vertices()), extra, px, whole)
}

/// The vertices of a filled polygon [`polygon`] keeps, given those [`m4`] keeps of it
/// (`thinned`) and, if they do not fill the same pixels, all of them (`whole`).
pub(crate) fn polygon_of(
    thinned: Vec<(f64, f64)>,
    extra: &[(f64, f64)],
    px: impl Fn((f64, f64)) -> (i32, i32),
    whole: impl FnOnce() -> Vec<(f64, f64)>,
) -> Vec<(f64, f64)> {
    let span = |pick: fn((i32, i32)) -> i32| {
        let all = thinned.iter().chain(extra).map(|&v| pick(px(v)));
        let (lo, hi) = all.fold((i32::MAX, i32::MIN), |(lo, hi), c| (lo.min(c), hi.max(c)));
        hi.saturating_sub(lo)
    };
    if span(|p| p.0) > span(|p| p.1) {
        thinned
    } else {
        whole()
    }
}

/// One pixel column's first, lowest, highest and last point, with their positions.
struct Bucket {
    column: i32,
    first: (usize, (f64, f64)),
    low: (usize, (f64, f64)),
    high: (usize, (f64, f64)),
    last: (usize, (f64, f64)),
}

impl Bucket {
    fn new(column: i32, i: usize, p: (f64, f64)) -> Self {
        Self {
            column,
            first: (i, p),
            low: (i, p),
            high: (i, p),
            last: (i, p),
        }
    }

    fn add(&mut self, i: usize, p: (f64, f64)) {
        if p.1 < self.low.1.1 {
            self.low = (i, p);
        }
        if p.1 > self.high.1.1 {
            self.high = (i, p);
        }
        self.last = (i, p);
    }

    /// Appends the bucket's points in their original order, each once.
    fn flush(self, out: &mut Vec<(f64, f64)>) {
        let mut four = [self.first, self.low, self.high, self.last];
        four.sort_by_key(|(i, _)| *i);
        let mut previous = None;
        for (i, p) in four {
            if previous != Some(i) {
                out.push(p);
                previous = Some(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use plotters::prelude::*;

    use super::*;

    /// A seeded random walk of `n` points over x in 0..n.
    fn walk(n: usize) -> Vec<(f64, f64)> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut y = 0.0;
        (0..n)
            .map(|i| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                y += ((state >> 33) as f64 / f64::from(1u32 << 31)) - 0.5;
                (i as f64, y)
            })
            .collect()
    }

    /// How a test draws a line.
    #[derive(Clone, Copy, PartialEq)]
    enum Drawn {
        /// One path through every point.
        Whole,
        /// One path through the points [`m4`] keeps.
        Thinned,
        /// The segments between the points [`m4`] keeps, each a path of its own.
        Segments,
    }

    /// Draws `points` as a line `width` px wide on a 1280×400 canvas and returns the
    /// pixels.
    fn drawn(points: &[(f64, f64)], width: u32, how: Drawn) -> Vec<u8> {
        let (w, h) = (1280u32, 400u32);
        let mut buffer = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
            root.fill(&WHITE).unwrap();
            let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
                (lo.min(p.1), hi.max(p.1))
            });
            let mut chart = ChartBuilder::on(&root)
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..points.len() as f64, lo..hi)
                .unwrap();
            let thinned = m4(points.iter().map(|&p| (chart.backend_coord(&p).0, p)));
            let style = BLUE.stroke_width(width);
            match how {
                Drawn::Whole => chart.draw_series(LineSeries::new(points.to_vec(), style)),
                Drawn::Thinned => chart.draw_series(LineSeries::new(thinned, style)),
                Drawn::Segments => chart.draw_series(
                    thinned
                        .windows(2)
                        .map(|s| PathElement::new([s[0], s[1]], style)),
                ),
            }
            .unwrap();
            root.present().unwrap();
        }
        buffer
    }

    /// How many pixels of two RGB images differ.
    fn differing(a: &[u8], b: &[u8]) -> usize {
        a.chunks(3).zip(b.chunks(3)).filter(|(a, b)| a != b).count()
    }

    /// Pixels that are not white, as a mask.
    fn ink(rgb: &[u8]) -> Vec<bool> {
        rgb.chunks(3).map(|p| p != [255, 255, 255]).collect()
    }

    /// [`m4_series`] keeps the very points [`m4`] keeps (the reference, a point at a
    /// time): for dense and sparse columns, ties, NaN, and columns that go back.
    #[test]
    fn thinning_a_series_keeps_the_points_thinning_its_points_keeps() {
        let bits = |v: Vec<(f64, f64)>| -> Vec<(u64, u64)> {
            v.into_iter()
                .map(|(x, y)| (x.to_bits(), y.to_bits()))
                .collect()
        };
        let mut state = 0x853c_49e6_748f_ea9b_u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for case in 0..200 {
            let len = next(3_000) as usize;
            let per_column = 1 + next(40);
            let ys: Vec<f64> = (0..len)
                .map(|_| match next(50) {
                    0 => f64::NAN,
                    1..=10 => 3.0,
                    _ => next(1_000) as f64 / 7.0,
                })
                .collect();
            let t: Vec<f64> = (0..len).map(|i| i as f64 * 60.0).collect();
            let columns: Vec<i32> = (0..len)
                .map(|i| {
                    let c = (i as u64 / per_column) as i32;
                    if case % 5 == 0 && next(30) == 0 {
                        c - 2
                    } else {
                        c
                    }
                })
                .collect();
            let reference = m4((0..len).map(|i| (columns[i], (t[i], ys[i]))));
            let series = m4_series(&columns, &t, &ys);
            assert_eq!(bits(series), bits(reference), "case {case}");
        }
    }

    /// Every pixel of a one-pixel line of 100 000 points is the same thinned.
    #[test]
    fn a_thinned_line_draws_the_same_pixels_as_the_whole_series() {
        let points = walk(100_000);
        let whole = drawn(&points, 1, Drawn::Whole);
        let thin = drawn(&points, 1, Drawn::Thinned);
        let differing = differing(&whole, &thin);
        assert_eq!(differing, 0, "{differing} pixels differ");
        assert!(ink(&whole).contains(&true), "a line was drawn");
    }

    /// A thicker line is not the same thinned: plotters outlines a thick path as one
    /// polygon, whose joins and even–odd fill follow every vertex, so where a dense path
    /// turns back on itself the outline spikes and the fill leaves holes, and a thinned
    /// path does so elsewhere (one thinned path misses several times the pixels that
    /// segments do). Drawn as separate segments between the thinned points, the line is
    /// the same but for its ragged edge: the pixels one drawing has and the other lacks
    /// are under a fifth of the line's pixels (2 px: 13 %, 4 px: 10 %), and each lies
    /// within the line's width of a pixel of the other.
    /// [`crate::charts::panel::path`] draws thick dense lines that way.
    #[test]
    fn a_thick_line_of_thinned_segments_differs_from_the_whole_path_only_along_its_edge() {
        let points = walk(100_000);
        let (w, h) = (1280usize, 400usize);
        for width in [2, 4] {
            let whole = ink(&drawn(&points, width, Drawn::Whole));
            let segments = ink(&drawn(&points, width, Drawn::Segments));
            let thinned = ink(&drawn(&points, width, Drawn::Thinned));
            let line = whole.iter().filter(|&&p| p).count();
            let only = |a: &[bool], b: &[bool]| -> Vec<usize> {
                (0..w * h).filter(|&i| a[i] && !b[i]).collect()
            };
            let r = i64::from(width);
            let touches = |i: usize, other: &[bool]| {
                let (x, y) = ((i % w) as i64, (i / w) as i64);
                (-r..=r).any(|dy: i64| {
                    (-r..=r).any(|dx: i64| {
                        let (x, y) = (x + dx, y + dy);
                        (0..w as i64).contains(&x)
                            && (0..h as i64).contains(&y)
                            && other[y as usize * w + x as usize]
                    })
                })
            };
            let (missed, added) = (only(&whole, &segments), only(&segments, &whole));
            let by_path = only(&whole, &thinned).len();
            println!(
                "{width} px: {line} pixels; segments miss {} and add {}; one thinned path misses {by_path}",
                missed.len(),
                added.len()
            );
            let far = missed.iter().filter(|&&i| !touches(i, &segments)).count()
                + added.iter().filter(|&&i| !touches(i, &whole)).count();
            assert_eq!(
                far, 0,
                "{width} px: pixels further than {r} px from the other"
            );
            let differing = (missed.len() + added.len()) as f64 / line as f64;
            assert!(
                differing < 0.2,
                "{width} px: {differing:.3} of the line differs"
            );
            assert!(
                by_path > 2 * missed.len(),
                "{width} px: a thinned path's holes"
            );
        }
    }

    /// Fills, on a `w`×`h` canvas, the area between `points` and 0 and a band of ±10
    /// around them, both translucent, through [`polygon`] or whole; returns the pixels and
    /// how many vertices the two polygons had.
    fn filled(points: &[(f64, f64)], (w, h): (u32, u32), thinned: bool) -> (Vec<u8>, usize) {
        let mut buffer = vec![0u8; (w * h * 3) as usize];
        let mut vertices = 0;
        {
            let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
            root.fill(&WHITE).unwrap();
            let (lo, hi) = points.iter().fold((0.0f64, 0.0f64), |(lo, hi), p| {
                (lo.min(p.1 - 10.0), hi.max(p.1 + 10.0))
            });
            let mut chart = ChartBuilder::on(&root)
                .margin(10)
                .build_cartesian_2d(0.0..points.len() as f64, lo..hi)
                .unwrap();
            let column = |p: (f64, f64)| (chart.backend_coord(&p).0, p);
            let area = || points.iter().copied().map(column);
            let band = || {
                let upper = points.iter().map(|&(x, y)| (x, y + 10.0));
                let lower = points.iter().rev().map(|&(x, y)| (x, y - 10.0));
                upper.chain(lower).map(column)
            };
            let (first, last) = (points[0].0, points[points.len() - 1].0);
            let base = [(last, 0.0), (first, 0.0)];
            let (area, band) = if thinned {
                let px = |p| chart.backend_coord(&p);
                (polygon(area, &base, px), polygon(band, &[], px))
            } else {
                let whole = |v: &mut dyn Iterator<Item = (i32, (f64, f64))>| {
                    v.map(|(_, p)| p).collect::<Vec<_>>()
                };
                (whole(&mut area()), whole(&mut band()))
            };
            vertices += area.len() + band.len();
            let style = BLUE.mix(0.3).filled();
            chart
                .draw_series(AreaSeries::new(area, 0.0, style))
                .unwrap();
            chart
                .draw_series([Polygon::new(band, RED.mix(0.2).filled())])
                .unwrap();
            root.present().unwrap();
        }
        (buffer, vertices)
    }

    /// A translucent area and band of 100 000 points fill the same pixels thinned, in a
    /// wide chart; in a tall one, where plotters sweeps rows, they are drawn whole.
    #[test]
    fn a_thinned_polygon_fills_the_same_pixels_as_the_whole_one() {
        let points = walk(100_000);
        for size in [(1280, 400), (400, 1280)] {
            let (whole, all) = filled(&points, size, false);
            let (thin, kept) = filled(&points, size, true);
            let differing = differing(&whole, &thin);
            assert_eq!(differing, 0, "{size:?}: {differing} pixels differ");
            assert!(whole.chunks(3).any(|p| p != [255, 255, 255]));
            if size.0 > size.1 {
                assert!(kept * 10 < all, "{size:?}: {kept} of {all} vertices kept");
            } else {
                assert_eq!(kept, all, "{size:?}: a tall polygon is drawn whole");
            }
        }
    }

    #[test]
    fn each_column_keeps_its_first_lowest_highest_and_last_point_in_order() {
        let points = [
            (0.0, 5.0),
            (0.2, 9.0),
            (0.4, 1.0),
            (0.6, 4.0),
            (0.8, 3.0),
            (1.0, 7.0),
        ];
        let kept = m4(points.map(|p| (p.0 as i32, p)));
        assert_eq!(
            kept,
            [(0.0, 5.0), (0.2, 9.0), (0.4, 1.0), (0.8, 3.0), (1.0, 7.0)]
        );
        let walk = walk(10_000);
        let thinned = m4(walk.iter().map(|&p| ((p.0 / 100.0) as i32, p)));
        assert!(thinned.len() <= 4 * 100, "{}", thinned.len());
        assert!(
            thinned.windows(2).all(|w| w[0].0 < w[1].0),
            "in order, each once"
        );
        assert!(m4(std::iter::empty()).is_empty());
    }
}
