//! Trading zones around the trend: the close's deviation from a smooth S_L is
//! compared with a buffer proportional to the deviation's spread.

/// The zone a sample falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Deviation below −buffer: the close is cheap relative to the trend.
    Buy,
    /// Deviation above +buffer: the close is dear relative to the trend.
    Sell,
    /// Within ±buffer.
    Hold,
}

/// The buffer is this multiple of the deviation's standard deviation.
pub const BUFFER_FACTOR: f64 = 0.8;

/// Relative size of rounding noise: the MRA reproduces its input only to about
/// 1e-12 of the price scale, so smaller differences carry no information. The
/// signal buffer and the anomaly threshold never go below
/// `NOISE_FLOOR · max|close|`; otherwise a flat stretch of closes (a halted
/// market) would be classified by rounding error.
pub const NOISE_FLOOR: f64 = 1e-9;

/// `NOISE_FLOOR · max|x|`.
pub fn noise_floor(x: &[f64]) -> f64 {
    NOISE_FLOOR * x.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Per-sample signals and their counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Signals {
    /// L such that the trend is the smooth S_L.
    pub trend_level: usize,
    /// `close − trend`, per sample.
    pub deviation: Vec<f64>,
    /// Population standard deviation (ddof 0) of `deviation`.
    pub std: f64,
    /// `max(BUFFER_FACTOR · std, NOISE_FLOOR · max|close|)`.
    pub buffer: f64,
    /// `Buy` where deviation < −buffer, `Sell` where > +buffer, else `Hold`.
    pub per_index: Vec<Signal>,
    /// Number of `Buy` samples.
    pub buy: usize,
    /// Number of `Sell` samples.
    pub sell: usize,
    /// Number of `Hold` samples; `buy + sell + hold` is the series length.
    pub hold: usize,
}

impl Signals {
    /// Classifies every close against `trend` (the smooth S_`trend_level`).
    pub fn compute(closes: &[f64], trend: &[f64], trend_level: usize) -> Signals {
        let mut out = Signals::default();
        out.compute_into(closes, trend, trend_level, noise_floor(closes));
        out
    }

    /// [`Signals::compute`] reusing this value's buffers; `floor` is
    /// [`noise_floor`]`(closes)`, passed in because the caller has it already.
    pub(crate) fn compute_into(
        &mut self,
        closes: &[f64],
        trend: &[f64],
        trend_level: usize,
        floor: f64,
    ) {
        assert_eq!(
            closes.len(),
            trend.len(),
            "closes and trend differ in length"
        );
        assert!(!closes.is_empty(), "signals need at least one close");
        self.trend_level = trend_level;
        self.deviation.clear();
        self.deviation
            .extend(closes.iter().zip(trend).map(|(c, t)| c - t));
        self.std = population_std(&self.deviation);
        self.buffer = (BUFFER_FACTOR * self.std).max(floor);
        let buffer = self.buffer;
        self.per_index.clear();
        self.per_index.extend(self.deviation.iter().map(|&d| {
            if d < -buffer {
                Signal::Buy
            } else if d > buffer {
                Signal::Sell
            } else {
                Signal::Hold
            }
        }));
        let count = |s| self.per_index.iter().filter(|&&p| p == s).count();
        (self.buy, self.sell, self.hold) =
            (count(Signal::Buy), count(Signal::Sell), count(Signal::Hold));
    }
}

/// Two-pass population standard deviation (ddof 0), as `numpy.std`.
pub(crate) fn population_std(x: &[f64]) -> f64 {
    std_about(x, lane_sum(x, |v| v) / x.len() as f64)
}

/// Population standard deviation of `x` given its mean.
fn std_about(x: &[f64], mean: f64) -> f64 {
    (lane_sum(x, |v| (v - mean) * (v - mean)) / x.len() as f64).sqrt()
}

/// `Σ f(x)` over four interleaved partial sums: a single running sum would
/// serialise on the adder's latency (and be less accurate).
pub(crate) fn lane_sum(x: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0; 4];
    let chunks = x.chunks_exact(4);
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v);
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_use_strict_comparisons_and_counts_add_up() {
        // deviation = -2, -1, 0, 1, 2 -> std sqrt(2), buffer ~1.131
        let closes = [8.0, 9.0, 10.0, 11.0, 12.0];
        let s = Signals::compute(&closes, &[10.0; 5], 6);
        assert!((s.std - 2f64.sqrt()).abs() < 1e-15);
        assert_eq!(
            s.per_index,
            [
                Signal::Buy,
                Signal::Hold,
                Signal::Hold,
                Signal::Hold,
                Signal::Sell
            ]
        );
        assert_eq!((s.buy, s.sell, s.hold), (1, 1, 3));
        assert_eq!(s.buy + s.sell + s.hold, closes.len());
    }

    #[test]
    fn a_constant_rounding_offset_from_the_trend_holds_everywhere() {
        // std is 0, so without the noise floor every sample would be a BUY
        let s = Signals::compute(&[20_000.0; 4], &[20_000.0 + 3e-12; 4], 6);
        assert_eq!((s.buy, s.sell, s.hold), (0, 0, 4));
        assert_eq!(s.buffer, 20_000.0 * NOISE_FLOOR);
    }
}
