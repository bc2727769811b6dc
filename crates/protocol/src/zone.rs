//! `TimeZone`: the time zone the charts' time axes and dates are written in.
//!
//! Candle times are UTC on the wire and in the blob; a time zone only changes how a
//! chart labels them. Names are IANA time zones (`UTC`, `Europe/Berlin`,
//! `America/New_York`), looked up in the time-zone database compiled into every
//! binary, so a container without `/usr/share/zoneinfo` knows them too, and every
//! service (and every machine) draws the same labels for the same name.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// Longest accepted name (the longest IANA name has 32 characters).
const MAX_NAME: usize = 64;

/// A validated IANA time-zone name, in the database's own spelling, with its rules.
/// Two values are equal when their names are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl TimeZone {
    /// Coordinated Universal Time, the default.
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    /// Parses an IANA name, ignoring ASCII case (`europe/berlin` is `Europe/Berlin`).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let err = || ParseError::TimeZone {
            input: input.to_owned(),
        };
        let trimmed = input.trim();
        if trimmed.is_empty()
            || trimmed.len() > MAX_NAME
            || !trimmed
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
        {
            return Err(err());
        }
        let zone = jiff::tz::db().get(trimmed).map_err(|_| err())?;
        let name = zone.iana_name().unwrap_or(trimmed).to_owned();
        Ok(Self { name, zone })
    }

    /// The IANA name.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The zone's rules, for converting instants to wall-clock times.
    pub fn rules(&self) -> &jiff::tz::TimeZone {
        &self.zone
    }

    /// The name as one path segment of an object key: `/` becomes `.`
    /// (`America.New_York`); [`TimeZone::from_key_segment`] reverses it.
    pub fn key_segment(&self) -> String {
        self.name.replace('/', ".")
    }

    /// Parses a segment made by [`TimeZone::key_segment`].
    pub fn from_key_segment(segment: &str) -> Result<Self, ParseError> {
        Self::parse(&segment.replace('.', "/"))
    }
}

impl PartialEq for TimeZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TimeZone {}

impl std::hash::Hash for TimeZone {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        Self::utc()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

crate::parse_impls!(TimeZone);

impl From<TimeZone> for String {
    fn from(z: TimeZone) -> Self {
        z.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_names_parse_in_any_case_and_keep_the_database_spelling() {
        assert_eq!(
            TimeZone::parse("europe/berlin").unwrap().as_str(),
            "Europe/Berlin"
        );
        assert_eq!(TimeZone::parse(" UTC ").unwrap(), TimeZone::utc());
        assert_eq!(TimeZone::parse("etc/utc").unwrap().as_str(), "Etc/UTC");
        let tz: TimeZone = serde_json::from_str("\"America/New_York\"").unwrap();
        assert_eq!(serde_json::to_string(&tz).unwrap(), "\"America/New_York\"");
    }

    #[test]
    fn unknown_or_odd_names_are_refused_with_examples() {
        for bad in [
            "",
            "Mars/Olympus",
            "../etc/passwd",
            "Europe/Berlin;",
            "CEST+",
            &"A".repeat(65),
        ] {
            let e = TimeZone::parse(bad).unwrap_err().to_string();
            assert!(e.contains("Europe/Berlin"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn key_segments_round_trip_names_with_slashes() {
        for name in ["UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5"] {
            let tz = TimeZone::parse(name).unwrap();
            let seg = tz.key_segment();
            assert!(!seg.contains('/'), "{seg}");
            assert_eq!(TimeZone::from_key_segment(&seg).unwrap(), tz);
        }
    }
}
