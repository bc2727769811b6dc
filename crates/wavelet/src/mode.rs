//! Signal-extension modes for the discrete wavelet transform, with PyWavelets'
//! names and exactly PyWavelets' boundary values.
//!
//! A finite signal is extended on both sides before filtering; the mode decides
//! with what. `Mode::extend` writes the extended signal once so the filtering
//! loops never test for boundaries.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// How the signal is extended beyond its ends (PyWavelets' `mode=` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Zeros: `... 0 0 | x0 .. xn-1 | 0 0 ...`.
    Zero,
    /// Edge values repeated: `... x0 x0 | x0 .. xn-1 | xn-1 xn-1 ...`.
    Constant,
    /// Half-sample symmetric mirror: `... x1 x0 | x0 .. xn-1 | xn-1 xn-2 ...` (the default).
    #[default]
    Symmetric,
    /// Whole-sample symmetric mirror: `... x2 x1 | x0 .. xn-1 | xn-2 xn-3 ...`.
    Reflect,
    /// Periodic repetition: `... xn-2 xn-1 | x0 .. xn-1 | x0 x1 ...`.
    Periodic,
    /// Linear extrapolation with the slope at each end.
    Smooth,
    /// Periodic with `ceil(n/2)` coefficients per level (odd `n` first repeats
    /// its last sample once).
    Periodization,
    /// Half-sample antisymmetric: `... -x1 -x0 | x0 .. xn-1 | -xn-1 -xn-2 ...`.
    Antisymmetric,
    /// Whole-sample antisymmetric (point reflection about each edge sample).
    Antireflect,
}

impl Mode {
    /// All modes, in PyWavelets' order.
    pub const ALL: [Mode; 9] = [
        Mode::Zero,
        Mode::Constant,
        Mode::Symmetric,
        Mode::Reflect,
        Mode::Periodic,
        Mode::Smooth,
        Mode::Periodization,
        Mode::Antisymmetric,
        Mode::Antireflect,
    ];

    /// PyWavelets' name of the mode.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Zero => "zero",
            Mode::Constant => "constant",
            Mode::Symmetric => "symmetric",
            Mode::Reflect => "reflect",
            Mode::Periodic => "periodic",
            Mode::Smooth => "smooth",
            Mode::Periodization => "periodization",
            Mode::Antisymmetric => "antisymmetric",
            Mode::Antireflect => "antireflect",
        }
    }

    /// Writes `x` extended by `pad` samples on each side into `out` (cleared first).
    ///
    /// Periodization is extended periodically here; its odd-length padding is
    /// the caller's business. `smooth` with one sample behaves as `constant`,
    /// as in PyWavelets; the whole-sample mirrors, which PyWavelets rejects for
    /// one sample (and `dwt` does too), repeat it.
    pub(crate) fn extend(self, x: &[f64], pad: usize, out: &mut Vec<f64>) {
        assert!(!x.is_empty(), "cannot extend an empty signal");
        out.clear();
        out.reserve(x.len() + 2 * pad);
        let n = x.len() as isize;
        out.extend((-(pad as isize)..0).map(|i| self.outside(x, i)));
        out.extend_from_slice(x);
        out.extend((n..n + pad as isize).map(|i| self.outside(x, i)));
    }

    /// The extended value at index `i`, which lies outside `0..x.len()`.
    fn outside(self, x: &[f64], i: isize) -> f64 {
        let n = x.len() as isize;
        let (first, last) = (x[0], x[x.len() - 1]);
        match self {
            Mode::Zero => 0.0,
            Mode::Constant => edge(first, last, i),
            Mode::Smooth if n < 2 => edge(first, last, i),
            Mode::Reflect | Mode::Antireflect if n < 2 => first,
            Mode::Symmetric => x[mirror(i, n)],
            Mode::Antisymmetric => {
                let m = i.rem_euclid(2 * n);
                if m < n {
                    x[m as usize]
                } else {
                    -x[(2 * n - 1 - m) as usize]
                }
            }
            Mode::Reflect => x[reflect(i, n)],
            Mode::Periodic | Mode::Periodization => x[i.rem_euclid(n) as usize],
            Mode::Smooth if i < 0 => first + (-i) as f64 * (first - x[1]),
            Mode::Smooth => last + (i - n + 1) as f64 * (last - x[x.len() - 2]),
            Mode::Antireflect => antireflect(x, i),
        }
    }
}

fn edge(first: f64, last: f64, i: isize) -> f64 {
    if i < 0 { first } else { last }
}

/// Half-sample mirror index: period `2n`.
fn mirror(i: isize, n: isize) -> usize {
    let m = i.rem_euclid(2 * n);
    (if m < n { m } else { 2 * n - 1 - m }) as usize
}

/// Whole-sample mirror index: period `2n - 2`.
fn reflect(i: isize, n: isize) -> usize {
    let m = i.rem_euclid(2 * n - 2);
    (if m < n { m } else { 2 * n - 2 - m }) as usize
}

/// Point reflection about the edges; each period of `2n - 2` samples drifts by
/// twice the end-to-end rise, as PyWavelets' running edge value does.
fn antireflect(x: &[f64], i: isize) -> f64 {
    let n = x.len() as isize;
    let period = 2 * n - 2;
    let q = i.div_euclid(period);
    let r = i.rem_euclid(period);
    let last = x[x.len() - 1];
    let base = if r < n {
        x[r as usize]
    } else {
        2.0 * last - x[(2 * n - 2 - r) as usize]
    };
    base + 2.0 * q as f64 * (last - x[0])
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = Error;

    /// Parses PyWavelets' mode names, case-insensitively.
    fn from_str(s: &str) -> Result<Mode, Error> {
        let lower = s.trim().to_ascii_lowercase();
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == lower)
            .ok_or_else(|| Error::UnknownMode {
                name: s.to_string(),
                valid: Mode::ALL.map(Mode::name).join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extended(mode: Mode, x: &[f64], pad: usize) -> Vec<f64> {
        let mut out = Vec::new();
        mode.extend(x, pad, &mut out);
        out
    }

    #[test]
    fn extensions_follow_pywavelets_pictures() {
        let x = [1.0, 2.0, 4.0];
        let cases = [
            (Mode::Zero, [0.0, 0.0, 1.0, 2.0, 4.0, 0.0, 0.0]),
            (Mode::Constant, [1.0, 1.0, 1.0, 2.0, 4.0, 4.0, 4.0]),
            (Mode::Symmetric, [2.0, 1.0, 1.0, 2.0, 4.0, 4.0, 2.0]),
            (Mode::Reflect, [4.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0]),
            (Mode::Periodic, [2.0, 4.0, 1.0, 2.0, 4.0, 1.0, 2.0]),
            (Mode::Smooth, [-1.0, 0.0, 1.0, 2.0, 4.0, 6.0, 8.0]),
            (Mode::Antisymmetric, [-2.0, -1.0, 1.0, 2.0, 4.0, -4.0, -2.0]),
            (Mode::Antireflect, [-2.0, 0.0, 1.0, 2.0, 4.0, 6.0, 7.0]),
        ];
        for (mode, want) in cases {
            assert_eq!(extended(mode, &x, 2), want, "{mode}");
        }
    }

    #[test]
    fn modes_round_trip_through_their_names() {
        for mode in Mode::ALL {
            assert_eq!(mode.to_string().parse::<Mode>().unwrap(), mode);
        }
        assert_eq!("SYMMETRIC".parse::<Mode>().unwrap(), Mode::Symmetric);
        assert_eq!(Mode::default(), Mode::Symmetric);
        let err = "sym".parse::<Mode>().unwrap_err().to_string();
        assert!(
            err.contains("'sym'") && err.contains("periodization"),
            "{err}"
        );
    }
}
