//! `Symbol`: a Binance spot trading pair in its canonical upper-case form.
//!
//! People type `btc`, `BTC/USDT` or `ethbtc`; everything past this module sees
//! `BTCUSDT` or `ETHBTC`. A bare base asset means its USDT pair, because that is what
//! a trader means by "BTC" on Binance. Whether the pair really trades is for the
//! exchange to say (the candle sources check it); this type only guarantees a value
//! that is safe in a NATS subject token, an object key and a URL.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// Quote assets recognised at the end of a symbol. A name that ends in none of them is a
/// bare base asset and gets `USDT` appended. Longest first, so `FDUSD` wins over `USD`-like tails.
pub(crate) const QUOTES: &[&str] = &[
    "FDUSD", "USDT", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "JPY",
    "GBP", "AUD", "DAI",
];

/// The quote asset appended to a bare base asset.
pub(crate) const DEFAULT_QUOTE: &str = "USDT";

/// Longest accepted canonical symbol. Binance's longest spot symbols are around 16 characters.
const MAX_LEN: usize = 20;

/// A validated Binance spot symbol (`BTCUSDT`), upper case, letters and digits only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

impl Symbol {
    /// Parses a symbol as a person types it.
    ///
    /// Case-insensitive; `BTC/USDT`, `BTC-USDT` and `BTC_USDT` are joined; a bare base
    /// asset (`BTC`, `sol`) becomes its USDT pair. A name ending in a known quote asset
    /// is taken as a pair when at least two characters of base asset remain (one before
    /// `USDT`, so the pair `TUSDT` of the asset `T` stays itself), so `ETHBTC` stays
    /// `ETHBTC` while `WBTC` becomes `WBTCUSDT`.
    ///
    /// The canonical form parses to itself, because it is what travels between the
    /// services: a pair written with a separator must therefore end in a known quote
    /// (`BTC/PLN` is refused, since `BTCPLN` would read as a bare base asset).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::Symbol {
            input: input.to_owned(),
            reason,
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(err("it is empty"));
        }
        let has_separator = trimmed.contains(['/', '-', '_']);
        let joined: String = trimmed
            .chars()
            .filter(|c| !matches!(c, '/' | '-' | '_'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if joined.is_empty() {
            return Err(err("it has no letters or digits"));
        }
        if !joined.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(err("only letters A-Z and digits 0-9 are allowed"));
        }
        let canonical = if Self::has_quote(&joined) {
            joined
        } else if has_separator {
            return Err(err(
                "the pair does not end in a quote asset waveplot knows (USDT, USDC, FDUSD, BTC, ETH, BNB, EUR, ...) after a base of two or more characters",
            ));
        } else {
            joined + DEFAULT_QUOTE
        };
        if canonical.len() > MAX_LEN {
            return Err(err("it is longer than 20 characters"));
        }
        Ok(Self(canonical))
    }

    fn has_quote(name: &str) -> bool {
        QUOTES.iter().any(|q| {
            let min_base = if *q == DEFAULT_QUOTE { 1 } else { 2 };
            name.len() >= q.len() + min_base && name.ends_with(q)
        })
    }

    /// The canonical form, e.g. `BTCUSDT`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

crate::parse_impls!(Symbol);

impl From<Symbol> for String {
    fn from(s: Symbol) -> Self {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Symbol::parse(s).unwrap().to_string()
    }

    #[test]
    fn a_bare_base_asset_means_its_usdt_pair() {
        assert_eq!(canon("BTC"), "BTCUSDT");
        assert_eq!(canon("sol"), "SOLUSDT");
        assert_eq!(canon("WBTC"), "WBTCUSDT");
        assert_eq!(canon("1000SATS"), "1000SATSUSDT");
    }

    #[test]
    fn full_pairs_keep_their_quote_whatever_the_case_or_separator() {
        assert_eq!(canon("btcusdt"), "BTCUSDT");
        assert_eq!(canon("ETHBTC"), "ETHBTC");
        assert_eq!(canon("eth/btc"), "ETHBTC");
        assert_eq!(canon(" BTC-FDUSD "), "BTCFDUSD");
        assert_eq!(canon("BNB_ETH"), "BNBETH");
    }

    #[test]
    fn one_letter_assets_keep_their_usdt_pair() {
        assert_eq!(canon("T"), "TUSDT");
        assert_eq!(canon("TUSDT"), "TUSDT");
        assert_eq!(canon("t/usdt"), "TUSDT");
    }

    #[test]
    fn a_separator_needs_a_known_quote_so_the_joined_pair_stays_a_pair() {
        for bad in ["btc/pln", "btc-du", "X/BTC", "BTC-", "B-T-C"] {
            let e = Symbol::parse(bad).unwrap_err().to_string();
            assert!(e.contains("quote asset waveplot knows"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_symbols_are_rejected_with_the_reason_and_an_example() {
        for bad in ["", "   ", "BTC USDT", "BTC.USDT", "ÄBC", "BTC>", "/"] {
            let e = Symbol::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid symbol"), "{bad}: {e}");
            assert!(e.contains("BTCUSDT"), "{bad}: {e}");
        }
        let long = Symbol::parse("ABCDEFGHIJKLMNOPQRSTUVWXYZ").unwrap_err();
        assert!(long.to_string().contains("longer than 20"));
    }

    #[test]
    fn symbols_round_trip_through_json_and_reject_bad_values() {
        let s = Symbol::parse("BTC").unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"BTCUSDT\"");
        assert_eq!(serde_json::from_str::<Symbol>(&json).unwrap(), s);
        assert!(serde_json::from_str::<Symbol>("\"BTC.X\"").is_err());
    }
}
