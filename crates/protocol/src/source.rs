//! `Source`: where the candles of a render come from.
//!
//! `file:NAME` names a file in a directory the operator configured; the name is a
//! plain file name, so no request can make a service read outside that directory.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// Longest accepted file name in `file:NAME`.
const MAX_FILE_NAME: usize = 128;

/// Where candles come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Source {
    /// Binance's REST API (the default).
    #[default]
    Binance,
    /// The real candle sample bundled in the binary, for offline use.
    Sample,
    /// A klines file in the operator's candle directory, by plain file name.
    File(String),
}

impl Source {
    /// Parses `binance`, `sample` or `file:NAME`, where NAME is a plain file name
    /// (letters, digits, `.`, `_`, `-`; no path separators, not starting with a dot).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::Source {
            input: input.to_owned(),
            reason,
        };
        let trimmed = input.trim();
        match trimmed.to_ascii_lowercase().as_str() {
            "binance" => return Ok(Self::Binance),
            "sample" => return Ok(Self::Sample),
            _ => {}
        }
        let Some(name) = trimmed.strip_prefix("file:") else {
            return Err(err("unknown source"));
        };
        if name.is_empty() || name.len() > MAX_FILE_NAME {
            return Err(err("the file name must have 1 to 128 characters"));
        }
        if name.starts_with('.') {
            return Err(err("the file name must not start with a dot"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(err(
                "the file name may only have letters, digits, '.', '_' and '-' (no directories)",
            ));
        }
        Ok(Self::File(name.to_owned()))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Binance => f.write_str("binance"),
            Self::Sample => f.write_str("sample"),
            Self::File(name) => write!(f, "file:{name}"),
        }
    }
}

crate::parse_impls!(Source);

impl From<Source> for String {
    fn from(s: Source) -> Self {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip_through_their_names() {
        for s in [
            "binance",
            "sample",
            "file:BTCUSDT-5m-2024-01.csv",
            "file:a.zip",
        ] {
            assert_eq!(Source::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Source::parse("SAMPLE").unwrap(), Source::Sample);
    }

    #[test]
    fn file_names_cannot_leave_the_candle_directory() {
        for bad in [
            "file:",
            "file:../etc/passwd",
            "file:/etc/passwd",
            "file:a/b.csv",
            "file:.hidden",
            "file:a\\b",
            "ftp:x",
        ] {
            let e = Source::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("valid sources: binance, sample, file:NAME"),
                "{bad}: {e}"
            );
        }
    }
}
