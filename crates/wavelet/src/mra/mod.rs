//! Multiresolution analysis: the display series. Details D1..DJ and smooths
//! S1..SJ, each as long as the input and aligned with it, such that
//! `x = D1 + ... + DJ + SJ` and `S_j = S_{j+1} + D_{j+1}`.
//!
//! Two constructions are offered ([`MraKind`]): the shift-invariant MODWT
//! (default, [`modwt`]) and PyWavelets' decimated-DWT MRA ([`dwt`]). A
//! [`MraPlan`] fixes length, wavelet and levels once and then processes any
//! number of series of that length.

pub mod dwt;
pub mod modwt;

use std::fmt;
use std::str::FromStr;

use crate::dwt::dwt_max_level;
use crate::error::{Error, Result};
use crate::filters::Wavelet;
use crate::mode::Mode;

/// Which transform the multiresolution analysis is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MraKind {
    /// Maximal-overlap DWT: shift-invariant, any length. With mode
    /// `periodization` it is circular and equals `pywt.mra(x, w, J, transform="swt")`
    /// whenever `2^J` divides N; with any other mode (the default `symmetric`)
    /// the input is extended at both ends first, so the window's edges carry no
    /// wrap-around artefacts.
    #[default]
    Modwt,
    /// Decimated DWT: equals `pywt.mra(x, w, J, transform="dwt", mode=mode)`.
    Dwt,
}

impl fmt::Display for MraKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MraKind::Modwt => "modwt",
            MraKind::Dwt => "dwt",
        })
    }
}

impl FromStr for MraKind {
    type Err = Error;

    /// Parses `modwt` or `dwt`, case-insensitively.
    fn from_str(s: &str) -> Result<MraKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "modwt" => Ok(MraKind::Modwt),
            "dwt" => Ok(MraKind::Dwt),
            _ => Err(Error::UnknownMraKind {
                name: s.to_string(),
            }),
        }
    }
}

/// The result of a multiresolution analysis of N samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mra {
    /// How many levels were asked for.
    pub levels_requested: usize,
    /// How many levels were computed: the request capped at
    /// [`dwt_max_level`]`(N, filter_len)`.
    pub levels_used: usize,
    /// `details[j - 1]` is D_j (periods of 2^j to 2^(j+1) samples), length N.
    pub details: Vec<Vec<f64>>,
    /// `smooths[j - 1]` is S_j = x − (D_1 + … + D_j), length N.
    pub smooths: Vec<Vec<f64>>,
}

/// Levels to compute: the request capped at `dwt_max_level`, or an error that
/// names the minimum length when not even one level fits.
pub(crate) fn levels_for(n: usize, wavelet: &Wavelet, requested: usize) -> Result<usize> {
    if requested == 0 {
        return Err(Error::ZeroLevels);
    }
    let max = dwt_max_level(n, wavelet.filter_len());
    if max == 0 {
        return Err(Error::SignalTooShort {
            n,
            wavelet: wavelet.name().to_string(),
            filter_len: wavelet.filter_len(),
            min_len: 2 * (wavelet.filter_len() - 1),
        });
    }
    Ok(requested.min(max))
}

#[derive(Debug, Clone)]
enum Engine {
    Dwt(dwt::DwtMra),
    Modwt(modwt::ModwtMra),
    PaddedModwt(Padded),
}

/// A MODWT over the input extended at both ends, cropped back to the input.
///
/// The circular MODWT treats the window as one period of a loop, so the jump from
/// the last close back to the first (hundreds of dollars on a trending window) shows
/// up as large details and bent smooths at both ends: false anomalies at the first
/// and last candles. Extending the window by `pad` samples with the DWT mode on each
/// side (Percival & Walden's "reflection" boundary when the mode is `symmetric`) and
/// keeping the middle removes that jump; `pad` is the width of the deepest level's
/// equivalent filter, `(2^J − 1)(L − 1) + 1`, so no kept sample sees the wrap. The
/// result is still an exact additive decomposition of the input.
#[derive(Debug, Clone)]
struct Padded {
    mode: Mode,
    pad: usize,
    inner: modwt::ModwtMra,
    extended: Vec<f64>,
}

impl Padded {
    fn new(n: usize, wavelet: &Wavelet, mode: Mode, levels: usize) -> Self {
        let pad = ((1usize << levels) - 1) * (wavelet.filter_len() - 1) + 1;
        let total = n + 2 * pad;
        Self {
            mode,
            pad,
            inner: modwt::ModwtMra::new(total, wavelet, levels),
            extended: Vec::with_capacity(total),
        }
    }

    fn process(&mut self, x: &[f64], details: &mut [Vec<f64>], smooth: &mut [f64]) {
        self.mode.extend(x, self.pad, &mut self.extended);
        let keep = self.pad..self.pad + x.len();
        self.inner.process(&self.extended, |band, values| {
            put(band, &values[keep.clone()], details, smooth)
        });
    }
}

/// Copies `values`, the MODWT's `band`, into `details` or `smooth`.
fn put(band: modwt::Band, values: &[f64], details: &mut [Vec<f64>], smooth: &mut [f64]) {
    match band {
        modwt::Band::Detail(j) => details[j].copy_from_slice(values),
        modwt::Band::Smooth => smooth.copy_from_slice(values),
    }
}

/// A multiresolution analysis prepared for one length, wavelet, kind and depth.
#[derive(Debug, Clone)]
pub struct MraPlan {
    n: usize,
    kind: MraKind,
    levels_requested: usize,
    levels_used: usize,
    engine: Engine,
}

impl MraPlan {
    /// Prepares filters and scratch for series of `n` samples. `mode` is the
    /// extension mode: for the DWT kind as in PyWavelets; for the MODWT kind,
    /// `periodization` or `periodic` give the plain circular MODWT (PyWavelets'
    /// `swt`), and any other mode extends the input at both ends first (see
    /// `Padded`). Fails when `levels` is 0 or `n` is too short for one level.
    pub fn new(
        n: usize,
        wavelet: &Wavelet,
        kind: MraKind,
        mode: Mode,
        levels: usize,
    ) -> Result<MraPlan> {
        let levels_used = levels_for(n, wavelet, levels)?;
        let engine = match kind {
            MraKind::Dwt => Engine::Dwt(dwt::DwtMra::new(n, wavelet, mode, levels_used)),
            MraKind::Modwt if matches!(mode, Mode::Periodization | Mode::Periodic) => {
                Engine::Modwt(modwt::ModwtMra::new(n, wavelet, levels_used))
            }
            MraKind::Modwt => Engine::PaddedModwt(Padded::new(n, wavelet, mode, levels_used)),
        };
        Ok(MraPlan {
            n,
            kind,
            levels_requested: levels,
            levels_used,
            engine,
        })
    }

    /// The series length this plan accepts.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false: plans need at least `2 * (filter_len - 1)` samples.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The transform the plan uses.
    pub fn kind(&self) -> MraKind {
        self.kind
    }

    /// Levels asked for when the plan was made.
    pub fn levels_requested(&self) -> usize {
        self.levels_requested
    }

    /// Levels actually computed (request capped at `dwt_max_level`).
    pub fn levels_used(&self) -> usize {
        self.levels_used
    }

    /// Analyses `x` (length [`MraPlan::len`]) into a fresh [`Mra`].
    pub fn process(&mut self, x: &[f64]) -> Mra {
        let mut out = Mra::default();
        self.process_into(x, &mut out);
        out
    }

    /// Analyses `x` into `out`, reusing its buffers when they already have the
    /// right shape. Non-finite samples propagate; check them beforehand.
    pub fn process_into(&mut self, x: &[f64], out: &mut Mra) {
        assert_eq!(
            x.len(),
            self.n,
            "MraPlan was made for {} samples but got {}",
            self.n,
            x.len()
        );
        let j = self.levels_used;
        out.levels_requested = self.levels_requested;
        out.levels_used = j;
        for bands in [&mut out.details, &mut out.smooths] {
            bands.resize_with(j, Vec::new);
            bands.iter_mut().for_each(|b| b.resize(self.n, 0.0));
        }
        match &mut self.engine {
            Engine::Dwt(e) => e.process(x, &mut out.details, &mut out.smooths[j - 1]),
            Engine::Modwt(e) => {
                let smooth = &mut out.smooths[j - 1];
                e.process(x, |band, values| {
                    put(band, values, &mut out.details, smooth)
                })
            }
            Engine::PaddedModwt(e) => e.process(x, &mut out.details, &mut out.smooths[j - 1]),
        }
        for level in (1..j).rev() {
            let (lower, upper) = out.smooths.split_at_mut(level);
            let detail = &out.details[level];
            for ((s, &up), &d) in lower[level - 1].iter_mut().zip(&upper[0]).zip(detail) {
                *s = up + d;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_print() {
        assert_eq!("MODWT".parse::<MraKind>().unwrap(), MraKind::Modwt);
        assert_eq!("dwt".parse::<MraKind>().unwrap().to_string(), "dwt");
        assert_eq!(MraKind::default(), MraKind::Modwt);
        let err = "swt".parse::<MraKind>().unwrap_err().to_string();
        assert!(err.contains("'swt'") && err.contains("modwt, dwt"), "{err}");
    }

    #[test]
    fn levels_are_capped_and_the_cap_is_reported() {
        let w = Wavelet::new("db4").unwrap();
        let plan = MraPlan::new(100, &w, MraKind::Modwt, Mode::Symmetric, 8).unwrap();
        assert_eq!((plan.levels_requested(), plan.levels_used()), (8, 3));
        let mra = MraPlan::new(100, &w, MraKind::Dwt, Mode::Zero, 2)
            .unwrap()
            .process(&[1.0; 100]);
        assert_eq!((mra.levels_requested, mra.levels_used), (2, 2));
    }

    #[test]
    fn too_short_signals_name_the_minimum_length() {
        let w = Wavelet::new("db4").unwrap();
        let err = MraPlan::new(13, &w, MraKind::Modwt, Mode::Symmetric, 8).unwrap_err();
        assert!(err.to_string().contains("at least 14 samples"), "{err}");
        assert!(MraPlan::new(14, &w, MraKind::Modwt, Mode::Symmetric, 8).is_ok());
        let zero = MraPlan::new(64, &w, MraKind::Dwt, Mode::Symmetric, 0).unwrap_err();
        assert_eq!(zero, Error::ZeroLevels);
    }

    #[test]
    fn both_kinds_add_up_to_the_input_for_any_length() {
        for kind in [MraKind::Modwt, MraKind::Dwt] {
            for (name, n) in [("haar", 101), ("db4", 250), ("coif2", 97)] {
                let w = Wavelet::new(name).unwrap();
                let x: Vec<f64> = (0..n)
                    .map(|i| (i as f64 * 0.37).sin() * 50.0 + 2e4)
                    .collect();
                let mra = MraPlan::new(n, &w, kind, Mode::Symmetric, 8)
                    .unwrap()
                    .process(&x);
                let j = mra.levels_used;
                for t in 0..n {
                    let total: f64 =
                        mra.details.iter().map(|d| d[t]).sum::<f64>() + mra.smooths[j - 1][t];
                    assert!((total - x[t]).abs() <= 1e-9 * 2e4, "{kind} {name} t={t}");
                    let partial: f64 = mra.details[0][t] + mra.smooths[0][t];
                    assert!((partial - x[t]).abs() <= 1e-9 * 2e4, "{kind} {name} t={t}");
                }
            }
        }
    }
}
