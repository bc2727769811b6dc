//! The few summary numbers the charts compute from the blob's series themselves:
//! moments, histograms, rolling spread and runs of equal signals. Everything the
//! analysis already reports (band statistics, thresholds, counts) is read from the
//! blob instead, so the charts and the JSON agree.

use std::ops::Range;

/// Mean of `v`; 0 for an empty slice.
pub(crate) fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Population standard deviation of `v`.
pub(crate) fn std(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

/// Median of `v`; 0 for an empty slice.
pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return 0.0;
    }
    let (m, odd) = (s.len() / 2, s.len() % 2 == 1);
    let (below, &mut middle, _) = s.select_nth_unstable_by(m, f64::total_cmp);
    if odd {
        middle
    } else {
        let before = below.iter().copied().max_by(f64::total_cmp);
        (before.unwrap_or(middle) + middle) / 2.0
    }
}

/// The `q` quantile of `v` (0 ≤ q ≤ 1), by the nearest rank; 0 for an empty slice.
pub(crate) fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return 0.0;
    }
    let rank = ((s.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    *s.select_nth_unstable_by(rank, f64::total_cmp).1
}

/// Counts of `v` in `bins` equal bins over `range`; values outside are clamped in.
pub(crate) fn histogram(v: &[f64], bins: usize, range: &Range<f64>) -> Vec<u32> {
    let mut counts = vec![0; bins.max(1)];
    let width = (range.end - range.start) / counts.len() as f64;
    for x in v.iter().filter(|x| x.is_finite()) {
        let i = if width > 0.0 {
            ((x - range.start) / width).floor().max(0.0) as usize
        } else {
            0
        };
        counts[i.min(bins.max(1) - 1)] += 1;
    }
    counts
}

/// Standard deviation of the `window` values ending at each index; `None` before a
/// full window exists.
pub(crate) fn rolling_std(v: &[f64], window: usize) -> Vec<Option<f64>> {
    let w = window.max(2);
    let (mut sum, mut sq) = (0.0, 0.0);
    let mut out = Vec::with_capacity(v.len());
    for (i, &x) in v.iter().enumerate() {
        sum += x;
        sq += x * x;
        if i >= w {
            sum -= v[i - w];
            sq -= v[i - w] * v[i - w];
        }
        out.push((i + 1 >= w).then(|| {
            let m = sum / w as f64;
            (sq / w as f64 - m * m).max(0.0).sqrt()
        }));
    }
    out
}

/// Maximal runs of equal consecutive items, as (item, index range).
pub(crate) fn runs<T: PartialEq + Copy>(items: &[T]) -> Vec<(T, Range<usize>)> {
    let mut out: Vec<(T, Range<usize>)> = Vec::new();
    for (i, &item) in items.iter().enumerate() {
        match out.last_mut() {
            Some((last, r)) if *last == item => r.end = i + 1,
            _ => out.push((item, i..i + 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_a_small_sample_are_exact() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(mean(&v), 2.5);
        assert!((std(&v) - 1.118_033_988_749_895).abs() < 1e-12);
        assert_eq!(median(&v), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 1.0), 3.0);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
    }

    /// Median and quantiles pick their ranks without sorting; a full sort, the plain
    /// definition, must agree on unsorted data with repeats, signs and non-finite values.
    #[test]
    fn medians_and_quantiles_agree_with_a_full_sort() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for n in [1usize, 2, 3, 10, 11, 1000, 1001] {
            let v: Vec<f64> = (0..n)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    match i % 50 {
                        7 => f64::NAN,
                        9 => f64::INFINITY,
                        _ => (state % 201) as f64 - 100.0,
                    }
                })
                .collect();
            let mut sorted: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
            sorted.sort_by(f64::total_cmp);
            let m = sorted.len() / 2;
            let expected = if sorted.len() % 2 == 1 {
                sorted[m]
            } else {
                (sorted[m - 1] + sorted[m]) / 2.0
            };
            assert_eq!(median(&v), expected, "median of {n}");
            for q in [0.0, 0.005, 0.25, 0.5, 0.995, 1.0] {
                let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
                assert_eq!(quantile(&v, q), sorted[rank], "{q} quantile of {n}");
            }
        }
    }

    #[test]
    fn a_histogram_counts_every_value_once() {
        let v = [0.0, 0.1, 0.5, 0.99, 1.0, 5.0];
        let h = histogram(&v, 2, &(0.0..1.0));
        assert_eq!(h, vec![2, 4]);
    }

    #[test]
    fn rolling_std_waits_for_a_full_window() {
        let r = rolling_std(&[1.0, 1.0, 3.0, 3.0], 2);
        assert_eq!(r[0], None);
        assert_eq!(r[1], Some(0.0));
        assert_eq!(r[2], Some(1.0));
    }

    #[test]
    fn runs_group_equal_neighbours() {
        assert_eq!(runs(&[1, 1, 2, 1]), vec![(1, 0..2), (2, 2..3), (1, 3..4)]);
    }
}
