//! Outliers of the finest detail: samples whose |D1| stands far above the
//! typical |D1|, measured robustly with the median and the median absolute
//! deviation (MAD) so that the outliers themselves do not inflate the scale.

/// One flagged sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anomaly {
    /// Position in the series (the caller maps it to an open time).
    pub index: usize,
    /// The signed D1 value there.
    pub value: f64,
}

/// The threshold and the samples above it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Anomalies {
    /// The MAD multiplier used.
    pub k: f64,
    /// `median(|D1|)`.
    pub median: f64,
    /// `median(| |D1| − median |)`.
    pub mad: f64,
    /// `median + k · mad`, raised to the noise floor passed in if lower.
    pub threshold: f64,
    /// Samples with `|D1| > threshold` (strictly), in index order.
    pub points: Vec<Anomaly>,
}

impl Anomalies {
    /// Flags samples of `d1` whose magnitude strictly exceeds
    /// `max(median(a) + k · median(|a − median(a)|), floor)` with `a = |d1|`.
    /// Medians of even-length data average the two middle values (numpy's
    /// convention). `floor` is the rounding-noise level of D1, normally
    /// [`noise_floor`](crate::signals::noise_floor)`(closes)`: on a flat series
    /// median and MAD are 0 and rounding noise must not count as anomalies.
    pub fn detect(d1: &[f64], k: f64, floor: f64) -> Anomalies {
        Anomalies::detect_with(d1, k, floor, &mut Vec::new())
    }

    /// [`Anomalies::detect`] with caller-owned scratch of any size.
    pub(crate) fn detect_with(d1: &[f64], k: f64, floor: f64, scratch: &mut Vec<f64>) -> Anomalies {
        assert!(
            !d1.is_empty(),
            "anomaly detection needs at least one sample"
        );
        scratch.clear();
        scratch.extend(d1.iter().map(|v| v.abs()));
        let median = median_in_place(scratch);
        scratch.iter_mut().for_each(|a| *a = (*a - median).abs());
        let mad = median_in_place(scratch);
        let threshold = (median + k * mad).max(floor);
        let points = d1
            .iter()
            .enumerate()
            .filter(|(_, v)| v.abs() > threshold)
            .map(|(index, &value)| Anomaly { index, value })
            .collect();
        Anomalies {
            k,
            median,
            mad,
            threshold,
            points,
        }
    }
}

/// Median by selection (O(n)); reorders `values`.
pub(crate) fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    let mid = n / 2;
    let (lower, &mut upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    if n % 2 == 1 {
        return upper;
    }
    let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (below + upper) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_noise_below_the_floor_is_never_an_anomaly() {
        let mut d = [0.0; 9];
        d[4] = 1e-12;
        assert_eq!(Anomalies::detect(&d, 6.0, 0.0).points.len(), 1);
        let floored = Anomalies::detect(&d, 6.0, 2e-5);
        assert!(floored.points.is_empty());
        assert_eq!(floored.threshold, 2e-5);
    }

    #[test]
    fn median_averages_the_middle_pair_for_even_lengths() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_in_place(&mut [7.0]), 7.0);
    }

    #[test]
    fn only_samples_strictly_above_the_threshold_are_flagged() {
        // |d| = 1,1,1,2,1,9: median 1, deviations 0,0,0,1,0,8 -> MAD 0
        let d = [1.0, -1.0, 1.0, 2.0, 1.0, -9.0];
        let found = Anomalies::detect(&d, 6.0, 0.0);
        assert_eq!((found.median, found.mad, found.threshold), (1.0, 0.0, 1.0));
        let flagged: Vec<_> = found.points.iter().map(|a| (a.index, a.value)).collect();
        assert_eq!(flagged, [(3, 2.0), (5, -9.0)]);
        assert!(Anomalies::detect(&[1.0; 10], 6.0, 0.0).points.is_empty());
    }
}
