//! Orthogonal filter banks with exactly PyWavelets' coefficients.
//!
//! The decomposition low-pass filter of each wavelet comes from the generated
//! `table`; the other three filters are derived the way PyWavelets' C core
//! derives them (reversal and alternating signs), so all four match
//! `pywt.Wavelet(name)` bit for bit.

mod table;

use crate::error::{Error, Result};

/// The supported families: name prefix, first order, table.
const FAMILIES: [(&str, usize, &[&[f64]]); 3] = [
    ("db", 1, &table::DB),
    ("sym", 2, &table::SYM),
    ("coif", 1, &table::COIF),
];

/// An orthogonal wavelet's four filters, as PyWavelets defines them.
#[derive(Debug, Clone, PartialEq)]
pub struct Wavelet {
    name: String,
    dec_lo: Vec<f64>,
    dec_hi: Vec<f64>,
    rec_lo: Vec<f64>,
    rec_hi: Vec<f64>,
}

impl Wavelet {
    /// Looks a wavelet up by name, case-insensitively: `haar` (same filters as
    /// `db1`), `db1`..`db38`, `sym2`..`sym20`, `coif1`..`coif17`.
    pub fn new(name: &str) -> Result<Wavelet> {
        let lower = name.trim().to_ascii_lowercase();
        let dec_lo = if lower == "haar" {
            table::DB[0]
        } else {
            lookup(&lower).ok_or_else(|| Error::UnknownWavelet {
                name: name.to_string(),
                valid: valid_names_summary(),
            })?
        };
        Ok(Wavelet::from_dec_lo(lower, dec_lo))
    }

    fn from_dec_lo(name: String, dec_lo: &[f64]) -> Wavelet {
        let len = dec_lo.len();
        let sign = |i: usize| if i % 2 == 1 { -1.0 } else { 1.0 };
        let rec_lo: Vec<f64> = dec_lo.iter().rev().copied().collect();
        let rec_hi = (0..len).map(|i| sign(i) * dec_lo[i]).collect();
        let dec_hi = (0..len).map(|i| sign(len - 1 - i) * rec_lo[i]).collect();
        Wavelet {
            name,
            dec_lo: dec_lo.to_vec(),
            dec_hi,
            rec_lo,
            rec_hi,
        }
    }

    /// Every accepted name, in family order (`haar`, `db1`.., `sym2`.., `coif1`..).
    pub fn names() -> Vec<String> {
        let mut names = vec!["haar".to_string()];
        for (prefix, first, filters) in FAMILIES {
            names.extend((0..filters.len()).map(|k| format!("{prefix}{}", first + k)));
        }
        names
    }

    /// The lower-case name this wavelet was created with (`haar` stays `haar`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Decomposition (analysis) low-pass filter.
    pub fn dec_lo(&self) -> &[f64] {
        &self.dec_lo
    }

    /// Decomposition (analysis) high-pass filter.
    pub fn dec_hi(&self) -> &[f64] {
        &self.dec_hi
    }

    /// Reconstruction (synthesis) low-pass filter.
    pub fn rec_lo(&self) -> &[f64] {
        &self.rec_lo
    }

    /// Reconstruction (synthesis) high-pass filter.
    pub fn rec_hi(&self) -> &[f64] {
        &self.rec_hi
    }

    /// Number of taps of every filter (`2 * order` for db, sym; `6 * order` for coif).
    pub fn filter_len(&self) -> usize {
        self.dec_lo.len()
    }
}

fn lookup(lower: &str) -> Option<&'static [f64]> {
    FAMILIES.iter().find_map(|&(prefix, first, filters)| {
        let order: usize = lower.strip_prefix(prefix)?.parse().ok()?;
        // reject "db01"-style spellings so every name has exactly one form
        if order.to_string().len() != lower.len() - prefix.len() {
            return None;
        }
        order
            .checked_sub(first)
            .and_then(|k| filters.get(k))
            .copied()
    })
}

fn valid_names_summary() -> String {
    let mut parts = vec!["haar".to_string()];
    for (prefix, first, filters) in FAMILIES {
        parts.push(format!(
            "{prefix}{first}..{prefix}{}",
            first + filters.len() - 1
        ));
    }
    parts.join(", ")
}

impl Default for Wavelet {
    /// Haar, the analysis default.
    fn default() -> Self {
        Wavelet::from_dec_lo("haar".to_string(), table::DB[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot_shifted(h: &[f64], shift: usize) -> f64 {
        h.iter().zip(&h[shift..]).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn every_wavelet_is_orthonormal_with_lowpass_sum_sqrt2() {
        for name in Wavelet::names() {
            let w = Wavelet::new(&name).unwrap();
            let lo = w.dec_lo();
            let sum: f64 = lo.iter().sum();
            assert!((sum - 2f64.sqrt()).abs() < 1e-10, "{name}: sum {sum}");
            assert!((dot_shifted(lo, 0) - 1.0).abs() < 1e-10, "{name}: norm");
            for shift in (2..lo.len()).step_by(2) {
                let d = dot_shifted(lo, shift);
                assert!(d.abs() < 1e-10, "{name}: shift {shift} gives {d}");
            }
            let cross: f64 = lo.iter().zip(w.dec_hi()).map(|(a, b)| a * b).sum();
            assert!(cross.abs() < 1e-10, "{name}: lo.hi = {cross}");
        }
    }

    #[test]
    fn names_are_case_insensitive_and_haar_equals_db1() {
        let haar = Wavelet::new("HAAR").unwrap();
        let db1 = Wavelet::new("Db1").unwrap();
        assert_eq!(haar.dec_lo(), db1.dec_lo());
        assert_eq!(haar.name(), "haar");
        assert_eq!(Wavelet::new("coif5").unwrap().filter_len(), 30);
        assert_eq!(Wavelet::new("sym20").unwrap().filter_len(), 40);
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        for bad in ["db99", "db0", "sym1", "db01", "bior1.1", ""] {
            let err = Wavelet::new(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
            assert!(
                err.contains("haar, db1..db38, sym2..sym20, coif1..coif17"),
                "{err}"
            );
        }
    }

    #[test]
    fn names_lists_every_wavelet_once() {
        let names = Wavelet::names();
        assert_eq!(names.len(), 1 + 38 + 19 + 17);
        assert!(names.iter().all(|n| Wavelet::new(n).is_ok()));
    }
}
