//! The maximal-overlap DWT (Percival & Walden) and its multiresolution
//! analysis, defined for any length by circular filtering.
//!
//! # Alignment
//!
//! Level j uses the wavelet's decomposition filters scaled by `1/√2`
//! (`g̃ = dec_lo/√2`, `h̃ = dec_hi/√2`) with `2^(j-1) - 1` zeros between taps
//! ("à trous"), applied to the previous approximation `V_{j-1}` (`V_0 = x`):
//!
//! ```text
//! W_j[t] = Σ_i h̃[i] · V_{j-1}[(t + s·(L/2 − i)) mod N],   s = 2^(j-1), L = filter length
//! V_j[t] = Σ_i g̃[i] · V_{j-1}[(t + s·(L/2 − i)) mod N]
//! ```
//!
//! i.e. the filter is advanced by `s·L/2` samples. This is PyWavelets'
//! `swt(norm=True)` convention (its periodization convolution starts at tap
//! `len/2` of the upsampled filter), so coefficients, and hence the MRA, equal
//! `pywt.mra(transform="swt")` whenever `2^J` divides N. Synthesis is the
//! exact adjoint, `V_{j-1}[t] = Σ_i (g̃[i] V_j + h̃[i] W_j)[(t − s·(L/2 − i)) mod N]`,
//! which is what `pywt.iswt(norm=True)` computes by averaging shifted inverse
//! DWTs. D_j synthesises W_j alone; S_J synthesises V_J alone. Because every
//! step is a circular convolution, circularly shifting x shifts every D_j and
//! S_j by the same amount.
//!
//! The filtering loop never computes a modulo: outputs whose taps all fall
//! inside the signal read it in place, and only the wrapped ends are filtered
//! from a small circularly-copied buffer.

use crate::filters::Wavelet;

const LANES: usize = 16;

/// Filters of one level: taps in the order the filtering loop reads them.
#[derive(Debug, Clone)]
struct Level {
    stride: usize,
    /// Offset of the wrapped analysis buffer: `s·L/2 − s·(L−1)`.
    analysis_start: isize,
    /// Offset of the wrapped synthesis buffer: `−s·L/2`.
    synthesis_start: isize,
    lo_analysis: Vec<f64>,
    hi_analysis: Vec<f64>,
    lo_synthesis: Vec<f64>,
    hi_synthesis: Vec<f64>,
}

/// A band of the MRA, as [`ModwtMra::process`] hands it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Band {
    /// D_j, with `j − 1`.
    Detail(usize),
    /// S_J.
    Smooth,
}

/// Filters and scratch for the MODWT MRA of one signal length. Each level's
/// coefficients are synthesised as soon as the pyramid has them, so one buffer holds
/// them instead of one per level: five series of scratch whatever the depth (a million
/// samples at 8 levels: 40 MB instead of 88), with the same arithmetic, so the same
/// bits.
#[derive(Debug, Clone)]
pub(crate) struct ModwtMra {
    levels: Vec<Level>,
    /// W_j of the level in hand.
    w: Vec<f64>,
    /// V_j of the level in hand; V_J once the pyramid is done.
    v: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
    /// The band just synthesised.
    band: Vec<f64>,
    ext: Vec<f64>,
}

impl ModwtMra {
    pub(crate) fn new(n: usize, wavelet: &Wavelet, levels: usize) -> ModwtMra {
        let scale = std::f64::consts::FRAC_1_SQRT_2;
        let lo: Vec<f64> = wavelet.dec_lo().iter().map(|c| c * scale).collect();
        let hi: Vec<f64> = wavelet.dec_hi().iter().map(|c| c * scale).collect();
        let len = lo.len() as isize;
        let levels = (0..levels)
            .map(|j| {
                let stride = 1usize << j;
                let s = stride as isize;
                Level {
                    stride,
                    analysis_start: s * (len / 2) - s * (len - 1),
                    synthesis_start: -s * (len / 2),
                    lo_analysis: lo.iter().rev().copied().collect(),
                    hi_analysis: hi.iter().rev().copied().collect(),
                    lo_synthesis: lo.clone(),
                    hi_synthesis: hi.clone(),
                }
            })
            .collect::<Vec<_>>();
        ModwtMra {
            levels,
            w: vec![0.0; n],
            v: vec![0.0; n],
            a: vec![0.0; n],
            b: vec![0.0; n],
            band: vec![0.0; n],
            ext: Vec::new(),
        }
    }

    /// Hands D_1..D_J, then S_J, to `put`, each as long as `x`.
    pub(crate) fn process(&mut self, x: &[f64], mut put: impl FnMut(Band, &[f64])) {
        self.v.copy_from_slice(x);
        for j in 0..self.levels.len() {
            self.analyse(j);
            let w = std::mem::take(&mut self.w);
            self.synthesise(j + 1, &w, true);
            self.w = w;
            put(Band::Detail(j), &self.band);
        }
        let v = std::mem::take(&mut self.v);
        self.synthesise(self.levels.len(), &v, false);
        self.v = v;
        put(Band::Smooth, &self.band);
    }

    /// One step of the pyramid: W_{j+1} into `self.w` and V_{j+1} into `self.v`, from
    /// V_j in `self.v`.
    fn analyse(&mut self, j: usize) {
        let level = &self.levels[j];
        let (start, stride) = (level.analysis_start, level.stride);
        let ext = &mut self.ext;
        correlate_circular(&self.v, start, &level.hi_analysis, stride, &mut self.w, ext);
        correlate_circular(&self.v, start, &level.lo_analysis, stride, &mut self.a, ext);
        std::mem::swap(&mut self.v, &mut self.a);
    }

    /// Synthesises coefficients `c` of `level` (wavelet if `detail`, else
    /// scaling) down to the time domain with all other bands zero, into `self.band`.
    fn synthesise(&mut self, level: usize, c: &[f64], detail: bool) {
        let mut input = c;
        for j in (0..level).rev() {
            let lv = &self.levels[j];
            let taps = if detail && j + 1 == level {
                &lv.hi_synthesis
            } else {
                &lv.lo_synthesis
            };
            let target = if j == 0 { &mut self.band } else { &mut self.b };
            let (start, stride) = (lv.synthesis_start, lv.stride);
            correlate_circular(input, start, taps, stride, target, &mut self.ext);
            if j > 0 {
                std::mem::swap(&mut self.a, &mut self.b);
                input = &self.a;
            }
        }
    }

    /// The coefficients W_1..W_J and V_J of `x`, for the tests.
    #[cfg(test)]
    fn coefficients(&mut self, x: &[f64]) -> (Vec<Vec<f64>>, Vec<f64>) {
        self.v.copy_from_slice(x);
        let w = (0..self.levels.len())
            .map(|j| {
                self.analyse(j);
                self.w.clone()
            })
            .collect();
        (w, self.v.clone())
    }
}

/// `out[t] = Σ_k taps[k] · src[(t + start + stride·k) mod n]`.
///
/// Outputs whose window lies inside `src` read it in place; only the few at
/// either end (or all, when the filter spans the whole signal) go through a
/// wrapped copy in `scratch`.
fn correlate_circular(
    src: &[f64],
    start: isize,
    taps: &[f64],
    stride: usize,
    out: &mut [f64],
    scratch: &mut Vec<f64>,
) {
    let n = src.len() as isize;
    let span = (stride * (taps.len() - 1)) as isize;
    let lo = (-start).clamp(0, n);
    let hi = (n - span - start).clamp(lo, n);
    if lo == hi {
        wrap(src, start, src.len() + span as usize, scratch);
        correlate(scratch, taps, stride, out);
        return;
    }
    let (lo, hi) = (lo as usize, hi as usize);
    correlate(
        &src[(lo as isize + start) as usize..],
        taps,
        stride,
        &mut out[lo..hi],
    );
    if lo > 0 {
        wrap(src, start, lo + span as usize, scratch);
        correlate(scratch, taps, stride, &mut out[..lo]);
    }
    if hi < out.len() {
        wrap(
            src,
            hi as isize + start,
            out.len() - hi + span as usize,
            scratch,
        );
        correlate(scratch, taps, stride, &mut out[hi..]);
    }
}

/// `ext[k] = src[(start + k) mod n]` for `k < total`, copied in runs.
fn wrap(src: &[f64], start: isize, total: usize, ext: &mut Vec<f64>) {
    let n = src.len();
    ext.clear();
    let mut pos = start.rem_euclid(n as isize) as usize;
    while ext.len() < total {
        let take = (n - pos).min(total - ext.len());
        ext.extend_from_slice(&src[pos..pos + take]);
        pos = 0;
    }
}

/// `out[t] = Σ_k taps[k] · ext[t + stride·k]`, `LANES` outputs at a time so the
/// accumulators stay in registers and the loads are contiguous.
fn correlate(ext: &[f64], taps: &[f64], stride: usize, out: &mut [f64]) {
    let n = out.len();
    assert!(
        ext.len() >= n + stride * (taps.len() - 1),
        "wrapped buffer too short"
    );
    let full = n - n % LANES;
    for (chunk_index, chunk) in out[..full].chunks_exact_mut(LANES).enumerate() {
        let t0 = chunk_index * LANES;
        let mut acc = [0.0; LANES];
        for (k, &h) in taps.iter().enumerate() {
            let src: &[f64; LANES] = ext[t0 + stride * k..][..LANES].try_into().expect("LANES");
            for (a, s) in acc.iter_mut().zip(src) {
                *a += h * s;
            }
        }
        chunk.copy_from_slice(&acc);
    }
    for (t, y) in out.iter_mut().enumerate().skip(full) {
        *y = taps
            .iter()
            .enumerate()
            .map(|(k, &h)| h * ext[t + stride * k])
            .sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded random walk around 20 000 in whole cents of at most 10.
    fn walk(n: usize) -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
        let mut price = 20_000.0;
        (0..n)
            .map(|_| {
                price += f64::from(rng.i32(-1000..=1000)) / 100.0;
                price
            })
            .collect()
    }

    fn run(name: &str, x: &[f64], levels: usize) -> (ModwtMra, Vec<Vec<f64>>, Vec<f64>) {
        let w = Wavelet::new(name).unwrap();
        let mut plan = ModwtMra::new(x.len(), &w, levels);
        let mut details = vec![vec![0.0; x.len()]; levels];
        let mut smooth = vec![0.0; x.len()];
        plan.process(x, |band, values| match band {
            Band::Detail(j) => details[j].copy_from_slice(values),
            Band::Smooth => smooth.copy_from_slice(values),
        });
        (plan, details, smooth)
    }

    /// The energy of the coefficients W_1..W_J and V_J of `x`.
    fn coefficient_energy(plan: &mut ModwtMra, x: &[f64]) -> f64 {
        let energy = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>();
        let (w, v) = plan.coefficients(x);
        w.iter().map(|w| energy(w)).sum::<f64>() + energy(&v)
    }

    #[test]
    fn modwt_coefficients_keep_the_energy_of_any_length_input() {
        for (name, n, levels) in [("haar", 1001, 8), ("db4", 997, 6), ("sym5", 130, 3)] {
            let x = walk(n);
            let (mut plan, _, _) = run(name, &x, levels);
            let total = coefficient_energy(&mut plan, &x);
            let want = x.iter().map(|a| a * a).sum::<f64>();
            assert!(
                (total - want).abs() <= 1e-9 * want,
                "{name} n={n}: {total} vs {want}"
            );
        }
    }

    #[test]
    fn modwt_mra_adds_up_to_the_input_when_n_is_not_a_multiple_of_2_to_the_j() {
        for (name, n, levels) in [("haar", 999, 8), ("db4", 4321, 8), ("coif3", 203, 2)] {
            let x = walk(n);
            let (_, details, smooth) = run(name, &x, levels);
            for t in 0..n {
                let sum: f64 = details.iter().map(|d| d[t]).sum::<f64>() + smooth[t];
                assert!((sum - x[t]).abs() <= 1e-9 * 3e4, "{name} n={n} t={t}");
            }
        }
    }

    #[test]
    fn filters_longer_than_the_signal_wrap_around_it_several_times() {
        // haar level 6 spans 32 samples of a 10-sample signal; db4 level 3 spans 28 of 12
        for (name, n, levels) in [("haar", 10, 6), ("db4", 12, 3)] {
            let x = walk(n);
            let (mut plan, details, smooth) = run(name, &x, levels);
            let total = coefficient_energy(&mut plan, &x);
            let want = x.iter().map(|a| a * a).sum::<f64>();
            assert!((total - want).abs() <= 1e-9 * want, "{name} energy");
            for t in 0..n {
                let sum: f64 = details.iter().map(|d| d[t]).sum::<f64>() + smooth[t];
                assert!((sum - x[t]).abs() <= 1e-9 * 3e4, "{name} t={t}");
            }
        }
    }

    #[test]
    fn shifting_the_input_by_one_sample_shifts_every_band_by_one_sample() {
        let n = 777;
        let x = walk(n);
        let mut shifted = x.clone();
        shifted.rotate_right(1);
        let (_, d0, s0) = run("db3", &x, 5);
        let (_, d1, s1) = run("db3", &shifted, 5);
        let mut bands: Vec<(&Vec<f64>, &Vec<f64>)> = d0.iter().zip(&d1).collect();
        bands.push((&s0, &s1));
        for (j, (a, b)) in bands.into_iter().enumerate() {
            for t in 0..n {
                let diff = (a[t] - b[(t + 1) % n]).abs();
                assert!(diff <= 1e-9 * 3e4, "band {j} t={t}: {diff}");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        #[test]
        fn modwt_mra_is_additive_and_shift_equivariant_for_random_lengths(
            n in 16usize..700,
            wavelet in proptest::sample::select(vec!["haar", "db2", "db5", "sym4", "coif1"]),
            levels in 1usize..9,
            shift in 1usize..16,
        ) {
            let w = Wavelet::new(wavelet).unwrap();
            let levels = levels.min(crate::dwt::dwt_max_level(n, w.filter_len())).max(1);
            let x = walk(n);
            let (_, details, smooth) = run(wavelet, &x, levels);
            let mut rolled = x.clone();
            rolled.rotate_right(shift % n);
            let (_, rolled_details, rolled_smooth) = run(wavelet, &rolled, levels);
            for t in 0..n {
                let sum: f64 = details.iter().map(|d| d[t]).sum::<f64>() + smooth[t];
                proptest::prop_assert!((sum - x[t]).abs() <= 1e-9 * 3e4);
                let u = (t + shift) % n;
                for (a, b) in details.iter().zip(&rolled_details) {
                    proptest::prop_assert!((a[t] - b[u]).abs() <= 1e-9 * 3e4);
                }
                proptest::prop_assert!((smooth[t] - rolled_smooth[u]).abs() <= 1e-9 * 3e4);
            }
        }
    }
}
