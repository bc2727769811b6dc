//! Single- and multi-level discrete wavelet transform with PyWavelets'
//! conventions: the same filters, extension modes, coefficient lengths and
//! coefficient order (`[cA_J, cD_J, ..., cD_1]`), so results agree with
//! `pywt.dwt`, `pywt.idwt`, `pywt.wavedec` and `pywt.waverec` to rounding.

use crate::error::{Error, Result};
use crate::filters::Wavelet;
use crate::mode::Mode;

/// The deepest useful level, exactly as `pywt.dwt_max_level(n, filter_len)`:
/// `floor(log2(n / (filter_len - 1)))`, and 0 when `n < filter_len - 1`.
pub fn dwt_max_level(n: usize, filter_len: usize) -> usize {
    if filter_len <= 1 || n < filter_len - 1 {
        return 0;
    }
    (n / (filter_len - 1)).ilog2() as usize
}

/// Number of coefficients per band after one level on `n` samples, as
/// `pywt.dwt_coeff_len`: `ceil(n / 2)` for periodization, otherwise
/// `floor((n + filter_len - 1) / 2)`.
pub fn dwt_coeff_len(n: usize, filter_len: usize, mode: Mode) -> usize {
    match mode {
        Mode::Periodization => n.div_ceil(2),
        _ => (n + filter_len - 1) / 2,
    }
}

/// One analysis level: returns `(cA, cD)` like `pywt.dwt(x, wavelet, mode)`.
pub fn dwt(x: &[f64], wavelet: &Wavelet, mode: Mode) -> Result<(Vec<f64>, Vec<f64>)> {
    check_input_len(x.len(), mode)?;
    let len = dwt_coeff_len(x.len(), wavelet.filter_len(), mode);
    let (mut ca, mut cd) = (vec![0.0; len], vec![0.0; len]);
    let mut ext = Vec::new();
    dwt_into(x, wavelet, mode, &mut ext, &mut ca, &mut cd);
    Ok((ca, cd))
}

/// Rejects what PyWavelets rejects: empty input, and one sample in the
/// whole-sample mirror modes (there is nothing to mirror about).
fn check_input_len(n: usize, mode: Mode) -> Result<()> {
    match (n, mode) {
        (0, _) => Err(Error::EmptySignal),
        (1, Mode::Reflect | Mode::Antireflect) => Err(Error::ModeNeedsTwoSamples { mode }),
        _ => Ok(()),
    }
}

/// [`dwt`] into caller-provided outputs, reusing `ext` as scratch.
pub(crate) fn dwt_into(
    x: &[f64],
    wavelet: &Wavelet,
    mode: Mode,
    ext: &mut Vec<f64>,
    ca: &mut [f64],
    cd: &mut [f64],
) {
    let f = wavelet.filter_len();
    let offset = if mode == Mode::Periodization {
        // PyWavelets repeats the last sample once to make odd lengths even,
        // then filters circularly, starting at tap f/2
        let mut padded = x.to_vec();
        if x.len() % 2 == 1 {
            padded.push(x[x.len() - 1]);
        }
        Mode::Periodic.extend(&padded, f, ext);
        f / 2 + f
    } else {
        Mode::extend(mode, x, f - 1, ext);
        f
    };
    decimate(ext, wavelet.dec_lo(), offset, ca);
    decimate(ext, wavelet.dec_hi(), offset, cd);
}

/// `out[o] = sum_j filter[j] * ext[offset + 2 o - j]`: every second sample of
/// the full convolution.
fn decimate(ext: &[f64], filter: &[f64], offset: usize, out: &mut [f64]) {
    let start = offset + 1 - filter.len();
    for (o, y) in out.iter_mut().enumerate() {
        let window = &ext[start + 2 * o..start + 2 * o + filter.len()];
        *y = window
            .iter()
            .zip(filter.iter().rev())
            .map(|(a, b)| a * b)
            .sum();
    }
}

/// Length `pywt.idwt` produces from `len` coefficients per band.
pub fn idwt_len(len: usize, filter_len: usize, mode: Mode) -> usize {
    match mode {
        Mode::Periodization => 2 * len,
        _ => (2 * len + 2).saturating_sub(filter_len),
    }
}

/// One synthesis level, like `pywt.idwt(ca, cd, wavelet, mode)`; a missing band
/// counts as zeros. Both bands must have the same length.
pub fn idwt(
    ca: Option<&[f64]>,
    cd: Option<&[f64]>,
    wavelet: &Wavelet,
    mode: Mode,
) -> Result<Vec<f64>> {
    let len = match (ca, cd) {
        (Some(a), Some(d)) if a.len() != d.len() => {
            return Err(Error::CoefficientLengthMismatch {
                approx: a.len(),
                detail: d.len(),
            });
        }
        (Some(a), _) => a.len(),
        (None, Some(d)) => d.len(),
        (None, None) => return Err(Error::NoCoefficients),
    };
    let f = wavelet.filter_len();
    if mode != Mode::Periodization && len < f / 2 {
        return Err(Error::CoefficientsTooShort {
            len,
            filter_len: f,
            min: f / 2,
        });
    }
    let mut out = vec![0.0; idwt_len(len, f, mode)];
    let mut scratch = Vec::new();
    if let Some(a) = ca {
        upsample_add(a, wavelet, Band::Approx, mode, &mut scratch, &mut out);
    }
    if let Some(d) = cd {
        upsample_add(d, wavelet, Band::Detail, mode, &mut scratch, &mut out);
    }
    Ok(out)
}

/// Which synthesis filter a band goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Band {
    /// Low-pass (approximation) band.
    Approx,
    /// High-pass (detail) band.
    Detail,
}

/// Adds one band's reconstruction to `out` (length [`idwt_len`]).
pub(crate) fn upsample_add(
    c: &[f64],
    wavelet: &Wavelet,
    band: Band,
    mode: Mode,
    scratch: &mut Vec<f64>,
    out: &mut [f64],
) {
    if mode == Mode::Periodization {
        let dec = match band {
            Band::Approx => wavelet.dec_lo(),
            Band::Detail => wavelet.dec_hi(),
        };
        periodization_adjoint_add(c, dec, scratch, out);
    } else {
        let rec = match band {
            Band::Approx => wavelet.rec_lo(),
            Band::Detail => wavelet.rec_hi(),
        };
        upsample_valid_add(c, rec, out);
    }
}

/// PyWavelets' "valid" upsampling convolution: only outputs where every tap
/// meets a coefficient. `out[2m + p] += Σ_j rec[2j + p] · c[h − 1 + m − j]`
/// with `h = rec.len() / 2`. Taps are applied one at a time over cache-sized
/// blocks, so each pass is a plain multiply-add over contiguous slices.
fn upsample_valid_add(c: &[f64], rec: &[f64], out: &mut [f64]) {
    const BLOCK: usize = 2048;
    let half = rec.len() / 2;
    for (b, block) in out.chunks_mut(2 * BLOCK).enumerate() {
        let m0 = b * BLOCK;
        for (j, taps) in rec.chunks_exact(2).enumerate() {
            let src = &c[m0 + half - 1 - j..][..block.len() / 2];
            for (pair, &v) in block.chunks_exact_mut(2).zip(src) {
                pair[0] += taps[0] * v;
                pair[1] += taps[1] * v;
            }
        }
    }
}

/// The periodization DWT is orthogonal, so its inverse is its transpose:
/// scatter `dec[j] * c[o]` to `(f/2 + 2o - j) mod 2len`. Scattering into a
/// padded buffer and folding it keeps the modulo out of the inner loop.
fn periodization_adjoint_add(c: &[f64], dec: &[f64], scratch: &mut Vec<f64>, out: &mut [f64]) {
    let f = dec.len();
    let period = out.len();
    scratch.clear();
    scratch.resize(period + 2 * f, 0.0);
    for (o, &v) in c.iter().enumerate() {
        // index f/2 + 2o - j, shifted by f to stay non-negative
        let top = f / 2 + 2 * o + f;
        for (j, &h) in dec.iter().enumerate() {
            scratch[top - j] += h * v;
        }
    }
    for (k, &v) in scratch.iter().enumerate() {
        out[(k as isize - f as isize).rem_euclid(period as isize) as usize] += v;
    }
}

/// Multi-level decomposition like `pywt.wavedec(x, wavelet, mode, level)`:
/// `[cA_level, cD_level, ..., cD_1]`. Level 0 returns `[x]`. Levels beyond
/// [`dwt_max_level`] are computed as PyWavelets does (all coefficients then
/// feel the boundary).
pub fn wavedec(x: &[f64], wavelet: &Wavelet, mode: Mode, level: usize) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::new();
    wavedec_into(
        x,
        wavelet,
        mode,
        level,
        &mut out,
        &mut WavedecScratch::default(),
    )?;
    Ok(out)
}

/// Buffers [`wavedec_into`] reuses between calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct WavedecScratch {
    ext: Vec<f64>,
    approx: Vec<f64>,
    next: Vec<f64>,
}

/// [`wavedec`] into `out`, reusing its arrays (and `scratch`) so repeated
/// calls on same-length signals allocate nothing.
pub(crate) fn wavedec_into(
    x: &[f64],
    wavelet: &Wavelet,
    mode: Mode,
    level: usize,
    out: &mut Vec<Vec<f64>>,
    scratch: &mut WavedecScratch,
) -> Result<()> {
    check_input_len(x.len(), mode)?;
    out.resize_with(level + 1, Vec::new);
    scratch.approx.clear();
    scratch.approx.extend_from_slice(x);
    for k in 1..=level {
        check_input_len(scratch.approx.len(), mode)?;
        let len = dwt_coeff_len(scratch.approx.len(), wavelet.filter_len(), mode);
        let (head, details) = out.split_at_mut(1);
        let cd = &mut details[level - k];
        let ca = if k == level {
            &mut head[0]
        } else {
            &mut scratch.next
        };
        ca.resize(len, 0.0);
        cd.resize(len, 0.0);
        dwt_into(&scratch.approx, wavelet, mode, &mut scratch.ext, ca, cd);
        std::mem::swap(&mut scratch.approx, &mut scratch.next);
    }
    if level == 0 {
        out[0].clear();
        out[0].extend_from_slice(x);
    }
    Ok(())
}

/// Multi-level reconstruction like `pywt.waverec(coeffs, wavelet, mode)`.
///
/// As in PyWavelets, an approximation one sample longer than the next detail
/// band (odd lengths along the way) is trimmed before each level, and the
/// result may be one sample longer than the original signal.
pub fn waverec(coeffs: &[Vec<f64>], wavelet: &Wavelet, mode: Mode) -> Result<Vec<f64>> {
    let (first, details) = coeffs.split_first().ok_or(Error::NoCoefficients)?;
    let mut approx = first.clone();
    for d in details {
        if approx.len() == d.len() + 1 {
            approx.truncate(d.len());
        }
        approx = idwt(Some(&approx), Some(d), wavelet, mode)?;
    }
    Ok(approx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| ((i * 7919) % 23) as f64 - 0.3 * i as f64)
            .collect()
    }

    #[test]
    fn max_level_matches_pywavelets_formula() {
        assert_eq!(dwt_max_level(1024, 2), 10);
        assert_eq!(dwt_max_level(864, 8), 6);
        assert_eq!(dwt_max_level(6, 8), 0);
        assert_eq!(dwt_max_level(7, 8), 0);
        assert_eq!(dwt_max_level(14, 8), 1);
        assert_eq!(dwt_max_level(100, 1), 0);
    }

    #[test]
    fn single_level_reconstructs_perfectly_in_every_mode() {
        for name in ["haar", "db4", "sym7", "coif2"] {
            let w = Wavelet::new(name).unwrap();
            for mode in Mode::ALL {
                for n in [16, 33] {
                    let x = ramp(n);
                    let (ca, cd) = dwt(&x, &w, mode).unwrap();
                    let y = idwt(Some(&ca), Some(&cd), &w, mode).unwrap();
                    for (i, v) in x.iter().enumerate() {
                        assert!((v - y[i]).abs() < 1e-9, "{name} {mode} n={n} i={i}");
                    }
                }
            }
        }
    }

    #[test]
    fn waverec_inverts_wavedec_at_max_level() {
        let w = Wavelet::new("db3").unwrap();
        let x = ramp(101);
        let level = dwt_max_level(x.len(), w.filter_len());
        for mode in Mode::ALL {
            let y = waverec(&wavedec(&x, &w, mode, level).unwrap(), &w, mode).unwrap();
            for (i, v) in x.iter().enumerate() {
                assert!((v - y[i]).abs() < 1e-9, "{mode} i={i}");
            }
        }
    }

    #[test]
    fn mismatched_bands_are_rejected() {
        let w = Wavelet::new("haar").unwrap();
        let err = idwt(Some(&[1.0, 2.0]), Some(&[1.0]), &w, Mode::Zero).unwrap_err();
        assert_eq!(
            err,
            Error::CoefficientLengthMismatch {
                approx: 2,
                detail: 1
            }
        );
        assert_eq!(wavedec(&[], &w, Mode::Zero, 1), Err(Error::EmptySignal));
        let one = dwt(&[1.0], &w, Mode::Reflect).unwrap_err();
        assert_eq!(
            one,
            Error::ModeNeedsTwoSamples {
                mode: Mode::Reflect
            }
        );
        // haar on 2 samples leaves 1 coefficient, which level 2 cannot reflect
        assert!(wavedec(&[1.0, 2.0], &w, Mode::Antireflect, 2).is_err());
        assert_eq!(
            wavedec(&[1.0, 2.0], &w, Mode::Symmetric, 2).unwrap().len(),
            3
        );
    }
}
