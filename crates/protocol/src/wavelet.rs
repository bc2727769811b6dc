//! `Wavelet` and `Mode`: which wavelet an analysis uses and how it extends the signal
//! at the edges, in PyWavelets' names and one canonical spelling (trimmed, lower case).
//!
//! The canonical form is what the blob key is built from, so `"Haar "`, `"HAAR"` and
//! `"haar"` name one analysis and one blob. The modes are a fixed list and parse
//! completely here; the wavelet families are prepare's to know (its error lists every
//! valid name), so this type only guarantees a short name of letters and digits.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// Longest wavelet name accepted (PyWavelets' longest orthogonal names have 6 characters).
pub const MAX_WAVELET_LEN: usize = 16;

/// A wavelet name in canonical form: `haar`, `db4`, `sym5`, `coif3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Wavelet(String);

impl Wavelet {
    /// Parses a wavelet name as a person types it (any case, spaces around it).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::Wavelet {
            input: input.to_owned(),
            reason,
        };
        let name = input.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(err("it is empty"));
        }
        if name.len() > MAX_WAVELET_LEN {
            return Err(err("it is longer than 16 characters"));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase())
            || !name.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(err("use a letter, then letters and digits"));
        }
        Ok(Self(name))
    }

    /// The Haar wavelet, the default.
    pub fn haar() -> Self {
        Self("haar".to_owned())
    }

    /// The canonical name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Wavelet {
    fn default() -> Self {
        Self::haar()
    }
}

impl fmt::Display for Wavelet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Wavelet> for String {
    fn from(w: Wavelet) -> String {
        w.0
    }
}

crate::parse_impls!(Wavelet);

/// A signal extension mode of the DWT, in PyWavelets' names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Mode {
    /// Zero padding.
    Zero,
    /// Repeats the edge value.
    Constant,
    /// Mirrors the signal, edge sample included. The default.
    #[default]
    Symmetric,
    /// Mirrors the signal, edge sample excluded.
    Reflect,
    /// Repeats the signal periodically.
    Periodic,
    /// Extends the first derivative at the edges.
    Smooth,
    /// Periodic, with outputs of exactly half the length.
    Periodization,
    /// Mirrors the signal with its sign flipped, edge sample included.
    Antisymmetric,
    /// Mirrors the signal with its sign flipped, edge sample excluded.
    Antireflect,
}

impl Mode {
    /// Every mode, in PyWavelets' order.
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
    pub fn as_str(self) -> &'static str {
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

    /// Parses a mode name as a person types it (any case, spaces around it).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let name = input.trim().to_ascii_lowercase();
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| ParseError::Mode {
                input: input.to_owned(),
                valid: Mode::ALL.map(Mode::as_str).join(", "),
            })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Mode> for String {
    fn from(m: Mode) -> String {
        m.as_str().to_owned()
    }
}

crate::parse_impls!(Mode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_lower_cased_into_one_canonical_form() {
        for typed in ["haar", "Haar ", " HAAR", "haar\n"] {
            assert_eq!(Wavelet::parse(typed).unwrap(), Wavelet::haar(), "{typed:?}");
        }
        assert_eq!(Wavelet::parse("DB4").unwrap().as_str(), "db4");
        assert_eq!(Mode::parse(" Periodization ").unwrap(), Mode::Periodization);
        let json: Wavelet = serde_json::from_str("\"Sym5 \"").unwrap();
        assert_eq!(serde_json::to_string(&json).unwrap(), "\"sym5\"");
    }

    #[test]
    fn bad_names_are_refused_with_what_is_valid() {
        for bad in ["", "  ", "4db", "db-4", "haar wavelet", "a2345678901234567"] {
            let e = Wavelet::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid wavelet"), "{bad:?}: {e}");
        }
        let e = Mode::parse("sym").unwrap_err().to_string();
        assert!(e.contains("'sym'") && e.contains("periodization"), "{e}");
        assert!(serde_json::from_str::<Mode>("\"mirror\"").is_err());
    }

    #[test]
    fn every_mode_parses_from_its_own_name() {
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.as_str()).unwrap(), mode);
            assert_eq!(mode.to_string(), mode.as_str());
        }
    }
}
