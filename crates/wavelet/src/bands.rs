//! Per-level statistics of the detail series D_j: how much the band moves,
//! how rough it is, and the length and height of its cycles. Level j covers
//! periods of 2^j to 2^(j+1) bars; times are given in bars and in seconds.

use crate::signals::lane_sum;

/// Statistics of one detail band D_j (full length N).
#[derive(Debug, Clone, PartialEq)]
pub struct BandStats {
    /// The level j.
    pub level: usize,
    /// Shortest period of the band, `2^j` bars.
    pub period_min_bars: f64,
    /// Longest period of the band, `2^(j+1)` bars.
    pub period_max_bars: f64,
    /// `period_min_bars` in seconds.
    pub period_min_seconds: f64,
    /// `period_max_bars` in seconds.
    pub period_max_seconds: f64,
    /// Population standard deviation (ddof 0) of D_j.
    pub sigma: f64,
    /// Mean absolute first difference, `Σ|d[t+1] − d[t]| / (N − 1)`.
    pub mean_abs_diff: f64,
    /// `max(D_j) − min(D_j)`.
    pub range: f64,
    /// Sign changes between consecutive non-zero samples: exact zeros are
    /// skipped, so `+, 0, −` counts once and `+, 0, +` not at all.
    pub zero_crossings: usize,
    /// Number of local maxima. A maximum is a sample, or a run of equal
    /// samples (a plateau), strictly greater than the samples just before and
    /// just after it; a plateau is located at its middle (rounded down, as
    /// `scipy.signal.find_peaks`). Runs touching either end never count.
    pub maxima: usize,
    /// Number of local minima, defined as maxima of −D_j.
    pub minima: usize,
    /// Mean distance between consecutive maxima in bars; `None` with fewer than 2 maxima.
    pub peak_period_bars: Option<f64>,
    /// `peak_period_bars` in seconds.
    pub peak_period_seconds: Option<f64>,
    /// Mean distance between consecutive minima in bars; `None` with fewer than 2 minima.
    pub trough_period_bars: Option<f64>,
    /// `trough_period_bars` in seconds.
    pub trough_period_seconds: Option<f64>,
    /// `(mean of D_j at maxima − mean of D_j at minima) / 2`; `None` without
    /// at least one maximum and one minimum.
    pub amplitude: Option<f64>,
}

impl BandStats {
    /// Measures detail band `level` (`d` = D_level) given one bar's duration.
    pub fn compute(level: usize, d: &[f64], bar_seconds: f64) -> BandStats {
        assert!(d.len() >= 2, "band statistics need at least two samples");
        let scan = Scan::run(d);
        let amplitude = match (scan.peaks.mean_value(), scan.troughs.mean_value()) {
            (Some(hi), Some(lo)) => Some((hi - lo) / 2.0),
            _ => None,
        };
        let short = (1u64 << level) as f64;
        let seconds = |bars: Option<f64>| bars.map(|b| b * bar_seconds);
        BandStats {
            level,
            period_min_bars: short,
            period_max_bars: 2.0 * short,
            period_min_seconds: short * bar_seconds,
            period_max_seconds: 2.0 * short * bar_seconds,
            sigma: (scan.m2 / d.len() as f64).sqrt(),
            mean_abs_diff: scan.abs_diff_sum / (d.len() - 1) as f64,
            range: scan.max - scan.min,
            zero_crossings: scan.zero_crossings,
            maxima: scan.peaks.count,
            minima: scan.troughs.count,
            peak_period_bars: scan.peaks.mean_spacing(),
            peak_period_seconds: seconds(scan.peaks.mean_spacing()),
            trough_period_bars: scan.troughs.mean_spacing(),
            trough_period_seconds: seconds(scan.troughs.mean_spacing()),
            amplitude,
        }
    }
}

/// Samples per block of the scan: small enough that the block's several loops
/// hit cache after the first one streamed it in.
const BLOCK: usize = 4096;

/// All statistics, gathered block by block over the band, all loops of a
/// block sharing the cached samples.
struct Scan {
    min: f64,
    max: f64,
    /// Samples seen so far.
    count: usize,
    /// The first sample: moments are taken of `d − shift`, which keeps the
    /// running mean small and so exactly enough representable.
    shift: f64,
    /// Mean of the samples seen so far, minus `shift`.
    mean: f64,
    /// Their sum of squared deviations from `mean`.
    m2: f64,
    abs_diff_sum: f64,
    zero_crossings: usize,
    sign: SignTracker,
    peaks: Extrema,
    troughs: Extrema,
    /// Start of the latest run of equal samples that began with a rise.
    rise_start: Option<usize>,
    /// Start of the latest run of equal samples that began with a fall.
    fall_start: Option<usize>,
}

impl Scan {
    fn run(d: &[f64]) -> Scan {
        let mut scan = Scan {
            min: d[0],
            max: d[0],
            count: 1,
            shift: d[0],
            mean: 0.0,
            m2: 0.0,
            abs_diff_sum: 0.0,
            zero_crossings: 0,
            sign: SignTracker::new(d[0]),
            peaks: Extrema::default(),
            troughs: Extrema::default(),
            rise_start: None,
            fall_start: None,
        };
        let steps = d.len() - 1;
        for first in (0..steps).step_by(BLOCK) {
            let last = (first + BLOCK).min(steps);
            scan.feed(first, &d[first..=last]);
        }
        scan
    }

    /// Consumes the steps between consecutive samples of `window`, whose first
    /// sample is band index `offset` and was already counted.
    fn feed(&mut self, offset: usize, window: &[f64]) {
        let (min, max, abs_diff) = spread(window);
        (self.min, self.max) = (self.min.min(min), self.max.max(max));
        self.add_moments(&window[1..]);
        self.abs_diff_sum += abs_diff;
        self.zero_crossings += self.sign.crossings(window);
        for (i, pair) in window.windows(2).enumerate() {
            let (t, here, next) = (offset + i, pair[0], pair[1]);
            // a run that rose into `here` and falls out of it is a maximum
            if next > here {
                if let Some(start) = self.fall_start.take() {
                    self.troughs.record((start + t) / 2, here);
                }
                self.rise_start = Some(t + 1);
            } else if next < here {
                if let Some(start) = self.rise_start.take() {
                    self.peaks.record((start + t) / 2, here);
                }
                self.fall_start = Some(t + 1);
            }
        }
    }

    /// Merges the block `b` into the running mean and squared deviations: two
    /// passes inside the cached block, combined across blocks with Chan et
    /// al.'s pairwise update, so σ needs no second pass over the band.
    fn add_moments(&mut self, b: &[f64]) {
        let (n_a, n_b, shift) = (self.count as f64, b.len() as f64, self.shift);
        let delta = lane_sum(b, |v| (v - shift) - self.mean) / n_b;
        let mean_b = self.mean + delta;
        let m2_b = lane_sum(b, |v| ((v - shift) - mean_b) * ((v - shift) - mean_b));
        let n = n_a + n_b;
        self.m2 += m2_b + delta * delta * n_a * n_b / n;
        self.mean += delta * n_b / n;
        self.count += b.len();
    }
}

/// `(min, max, Σ|Δ|)` over `w[1..]` (the differences over all of `w`),
/// with independent per-lane accumulators so the loop vectorises.
fn spread(w: &[f64]) -> (f64, f64, f64) {
    const LANES: usize = 4;
    let (mut lo, mut hi) = ([w[1]; LANES], [w[1]; LANES]);
    let mut diff = [0.0; LANES];
    let steps = w.len() - 1;
    let full = steps - steps % LANES;
    for (head, next) in w[..full]
        .chunks_exact(LANES)
        .zip(w[1..=full].chunks_exact(LANES))
    {
        for l in 0..LANES {
            lo[l] = if next[l] < lo[l] { next[l] } else { lo[l] };
            hi[l] = if next[l] > hi[l] { next[l] } else { hi[l] };
            diff[l] += (next[l] - head[l]).abs();
        }
    }
    let mut min = lo.iter().copied().fold(f64::INFINITY, f64::min);
    let mut max = hi.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total_diff: f64 = diff.iter().sum();
    for t in full..steps {
        min = min.min(w[t + 1]);
        max = max.max(w[t + 1]);
        total_diff += (w[t + 1] - w[t]).abs();
    }
    (min, max, total_diff)
}

/// Counts sign changes between consecutive non-zero samples.
struct SignTracker {
    negative: bool,
    seen: bool,
}

impl SignTracker {
    fn new(first: f64) -> SignTracker {
        SignTracker {
            negative: first < 0.0,
            seen: first != 0.0,
        }
    }

    /// Crossings over `window[1..]`, where `window[0]` was already pushed.
    /// Without zeros (the usual case) the tracker reduces to comparing
    /// neighbours' signs, which vectorises.
    fn crossings(&mut self, window: &[f64]) -> usize {
        if window.contains(&0.0) {
            return window[1..].iter().map(|&v| self.push(v)).sum();
        }
        let last = window[window.len() - 1];
        (self.negative, self.seen) = (last < 0.0, true);
        let pairs = window.iter().zip(&window[1..]);
        pairs
            .map(|(&a, &b)| usize::from((a < 0.0) != (b < 0.0)))
            .sum()
    }

    fn push(&mut self, v: f64) -> usize {
        let (nonzero, negative) = (v != 0.0, v < 0.0);
        let crossing = nonzero && self.seen && negative != self.negative;
        self.negative = if nonzero { negative } else { self.negative };
        self.seen |= nonzero;
        usize::from(crossing)
    }
}

/// Running summary of the maxima (or minima) found in one scan.
#[derive(Default)]
struct Extrema {
    count: usize,
    first: usize,
    last: usize,
    /// Sum of the band values at the extrema.
    sum: f64,
}

impl Extrema {
    fn record(&mut self, index: usize, value: f64) {
        if self.count == 0 {
            self.first = index;
        }
        self.last = index;
        self.sum += value;
        self.count += 1;
    }

    /// Mean gap between consecutive extrema: the gaps telescope to `last − first`.
    fn mean_spacing(&self) -> Option<f64> {
        (self.count >= 2).then(|| (self.last - self.first) as f64 / (self.count - 1) as f64)
    }

    fn mean_value(&self) -> Option<f64> {
        (self.count >= 1).then(|| self.sum / self.count as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zero_crossings(d: &[f64]) -> usize {
        let mut sign = SignTracker::new(d[0]);
        d[1..].iter().map(|&v| sign.push(v)).sum()
    }

    #[test]
    fn a_sine_band_has_its_period_and_amplitude() {
        let d: Vec<f64> = (0..400)
            .map(|t| 3.0 * (t as f64 * std::f64::consts::TAU / 20.0).sin())
            .collect();
        let s = BandStats::compute(4, &d, 300.0);
        assert_eq!(
            (s.period_min_bars, s.period_max_bars, s.period_max_seconds),
            (16.0, 32.0, 9600.0)
        );
        assert_eq!((s.maxima, s.minima), (20, 20));
        assert_eq!(s.peak_period_bars, Some(20.0));
        assert_eq!(s.trough_period_seconds, Some(6000.0));
        assert!((s.amplitude.unwrap() - 3.0).abs() < 1e-12);
        assert!((s.sigma - 3.0 / 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.zero_crossings, 39);
    }

    #[test]
    fn plateaus_count_once_at_their_middle_and_ends_never_count() {
        let d = [5.0, 1.0, 2.0, 2.0, 2.0, 1.0, 0.0, 0.0, 3.0, 3.0];
        let scan = Scan::run(&d);
        assert_eq!((scan.peaks.count, scan.peaks.first), (1, 3));
        let troughs = &scan.troughs;
        assert_eq!((troughs.count, troughs.first, troughs.last), (2, 1, 6));
        let s = BandStats::compute(1, &d, 60.0);
        assert_eq!(
            (s.peak_period_bars, s.trough_period_bars),
            (None, Some(5.0))
        );
        assert_eq!(s.amplitude, Some((2.0 - 0.5) / 2.0));
    }

    #[test]
    fn sigma_merged_over_blocks_equals_the_two_pass_value() {
        // a large offset and a drift: a one-pass Σx² formula would lose ~6 digits here
        let d: Vec<f64> = (0..3 * BLOCK + 17)
            .map(|t| 1e6 + t as f64 * 1e-3 + ((t * 7919) % 101) as f64 * 0.01)
            .collect();
        let two_pass = crate::signals::population_std(&d);
        let merged = BandStats::compute(1, &d, 1.0).sigma;
        assert!(
            (merged - two_pass).abs() <= 1e-13 * two_pass,
            "{merged} vs {two_pass}"
        );
    }

    #[test]
    fn zero_crossings_skip_exact_zeros() {
        assert_eq!(zero_crossings(&[1.0, 0.0, -1.0, 0.0, -2.0, 3.0]), 2);
        assert_eq!(zero_crossings(&[1.0, 0.0, 1.0]), 0);
        assert_eq!(zero_crossings(&[0.0, 0.0]), 0);
    }

    #[test]
    fn a_monotone_band_has_no_extrema_and_no_periods() {
        let s = BandStats::compute(2, &[1.0, 2.0, 3.0, 4.0], 1.0);
        assert_eq!(
            (s.maxima, s.minima, s.amplitude, s.peak_period_bars),
            (0, 0, None, None)
        );
        assert_eq!((s.range, s.mean_abs_diff), (3.0, 1.0));
    }

    /// The plain definition: plateau-aware maxima of `sign · d`, as positions.
    fn reference_extrema(d: &[f64], sign: f64) -> Vec<usize> {
        let v: Vec<f64> = d.iter().map(|x| sign * x).collect();
        let mut found = Vec::new();
        let mut i = 1;
        while i + 1 < v.len() {
            if v[i] > v[i - 1] {
                let mut j = i;
                while j + 1 < v.len() && v[j + 1] == v[i] {
                    j += 1;
                }
                if j + 1 < v.len() && v[j + 1] < v[i] {
                    found.push((i + j) / 2);
                }
                i = j + 1;
            } else {
                i += 1;
            }
        }
        found
    }

    #[test]
    fn block_boundaries_change_nothing_for_plateaus_and_zeros() {
        // coarse steps make plateaus (some straddling blocks); zeros only in the middle
        let n = 3 * BLOCK + 5;
        let d: Vec<f64> = (0..n)
            .map(|t| {
                let level = ((t / 3) * 7919 % 11) as f64 - 5.0;
                if (BLOCK..2 * BLOCK).contains(&t) {
                    level
                } else {
                    level + 0.5
                }
            })
            .collect();
        let scan = Scan::run(&d);
        assert_eq!(scan.zero_crossings, zero_crossings(&d));
        for (found, sign) in [(&scan.peaks, 1.0), (&scan.troughs, -1.0)] {
            let want = reference_extrema(&d, sign);
            assert_eq!(found.count, want.len());
            assert_eq!((found.first, found.last), (want[0], want[want.len() - 1]));
            let sum: f64 = want.iter().map(|&i| d[i]).sum();
            assert!((found.sum - sum).abs() < 1e-9);
        }
    }
}
