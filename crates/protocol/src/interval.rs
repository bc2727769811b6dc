//! `Interval`: the kline intervals Binance offers, with their durations and the
//! default look-back window of each.
//!
//! `1m` is a minute and `1M` a month, so parsing is case-sensitive for `m`/`M`; the
//! other units also accept upper case (`1H`, `1D`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// A Binance kline interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Interval {
    /// One second.
    S1,
    /// One minute.
    M1,
    /// Three minutes.
    M3,
    /// Five minutes.
    M5,
    /// Fifteen minutes.
    M15,
    /// Thirty minutes.
    M30,
    /// One hour.
    H1,
    /// Two hours.
    H2,
    /// Four hours.
    H4,
    /// Six hours.
    H6,
    /// Eight hours.
    H8,
    /// Twelve hours.
    H12,
    /// One day.
    D1,
    /// Three days.
    D3,
    /// One week.
    W1,
    /// One calendar month (nominally 30 days).
    Mo1,
}

impl Interval {
    /// Every interval, shortest first.
    pub const ALL: [Interval; 16] = [
        Self::S1,
        Self::M1,
        Self::M3,
        Self::M5,
        Self::M15,
        Self::M30,
        Self::H1,
        Self::H2,
        Self::H4,
        Self::H6,
        Self::H8,
        Self::H12,
        Self::D1,
        Self::D3,
        Self::W1,
        Self::Mo1,
    ];

    /// Binance's name of the interval (`5m`, `1M`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S1 => "1s",
            Self::M1 => "1m",
            Self::M3 => "3m",
            Self::M5 => "5m",
            Self::M15 => "15m",
            Self::M30 => "30m",
            Self::H1 => "1h",
            Self::H2 => "2h",
            Self::H4 => "4h",
            Self::H6 => "6h",
            Self::H8 => "8h",
            Self::H12 => "12h",
            Self::D1 => "1d",
            Self::D3 => "3d",
            Self::W1 => "1w",
            Self::Mo1 => "1M",
        }
    }

    /// Length of one candle in seconds; a month counts as 30 days (Binance's monthly
    /// candles follow the calendar, so use open times, not this, to place them).
    pub fn seconds(self) -> u64 {
        match self {
            Self::S1 => 1,
            Self::M1 => MINUTE,
            Self::M3 => 3 * MINUTE,
            Self::M5 => 5 * MINUTE,
            Self::M15 => 15 * MINUTE,
            Self::M30 => 30 * MINUTE,
            Self::H1 => HOUR,
            Self::H2 => 2 * HOUR,
            Self::H4 => 4 * HOUR,
            Self::H6 => 6 * HOUR,
            Self::H8 => 8 * HOUR,
            Self::H12 => 12 * HOUR,
            Self::D1 => DAY,
            Self::D3 => 3 * DAY,
            Self::W1 => 7 * DAY,
            Self::Mo1 => 30 * DAY,
        }
    }

    /// Length of one candle; see [`Interval::seconds`].
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.seconds())
    }

    /// Length of one candle in milliseconds, the unit of Binance's open times.
    pub fn millis(self) -> i64 {
        // At most 30 days in ms, far inside i64.
        self.seconds() as i64 * 1000
    }

    /// How far back a render looks by default. These are the original system's windows
    /// (1m/5m: 3 days, 15m/30m: 1 week, 1h/4h: 30 days, 1d: 2 years); the intervals it
    /// did not offer get a span that yields a few hundred candles or more.
    pub fn default_lookback(self) -> Duration {
        let secs = match self {
            Self::S1 => HOUR,
            Self::M1 | Self::M3 | Self::M5 => 3 * DAY,
            Self::M15 | Self::M30 => 7 * DAY,
            Self::H1 | Self::H2 | Self::H4 => 30 * DAY,
            Self::H6 | Self::H8 => 90 * DAY,
            Self::H12 => 180 * DAY,
            Self::D1 => 730 * DAY,
            Self::D3 => 1460 * DAY,
            Self::W1 | Self::Mo1 => 3650 * DAY,
        };
        Duration::from_secs(secs)
    }

    /// The default look-back as a number of candles (864 for 5m, 720 for 1h).
    pub fn default_window(self) -> usize {
        // Both factors are small; the quotient fits any usize.
        (self.default_lookback().as_secs() / self.seconds()) as usize
    }

    /// Parses Binance's interval name.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let trimmed = input.trim();
        let normalised = match trimmed.char_indices().last() {
            Some((i, u @ ('S' | 'H' | 'D' | 'W'))) => {
                format!("{}{}", &trimmed[..i], u.to_ascii_lowercase())
            }
            _ => trimmed.to_owned(),
        };
        Self::ALL
            .into_iter()
            .find(|i| i.as_str() == normalised)
            .ok_or_else(|| ParseError::Interval {
                input: input.to_owned(),
                valid: Self::ALL.map(Self::as_str).join(", "),
            })
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::parse_impls!(Interval);

impl From<Interval> for String {
    fn from(i: Interval) -> Self {
        i.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interval_round_trips_through_its_name_and_json() {
        for i in Interval::ALL {
            assert_eq!(Interval::parse(i.as_str()).unwrap(), i);
            let json = serde_json::to_string(&i).unwrap();
            assert_eq!(serde_json::from_str::<Interval>(&json).unwrap(), i);
        }
    }

    #[test]
    fn minute_and_month_are_told_apart_by_case() {
        assert_eq!(Interval::parse("1m").unwrap(), Interval::M1);
        assert_eq!(Interval::parse("1M").unwrap(), Interval::Mo1);
        assert_eq!(Interval::parse("1H").unwrap(), Interval::H1);
        assert_eq!(Interval::parse(" 1d ").unwrap(), Interval::D1);
    }

    #[test]
    fn durations_are_binance_s() {
        assert_eq!(Interval::M5.seconds(), 300);
        assert_eq!(Interval::H12.millis(), 43_200_000);
        assert_eq!(Interval::W1.duration(), Duration::from_secs(604_800));
        let secs: Vec<u64> = Interval::ALL.map(Interval::seconds).to_vec();
        assert!(secs.windows(2).all(|w| w[0] < w[1]), "ALL is ordered");
    }

    #[test]
    fn default_windows_follow_the_original_look_backs() {
        assert_eq!(Interval::M5.default_window(), 864);
        assert_eq!(Interval::M1.default_window(), 4320);
        assert_eq!(Interval::M15.default_window(), 672);
        assert_eq!(Interval::H1.default_window(), 720);
        assert_eq!(Interval::H4.default_window(), 180);
        assert_eq!(Interval::D1.default_window(), 730);
    }

    #[test]
    fn an_unknown_interval_lists_the_valid_ones() {
        for bad in ["", "2m", "1y", "5", "m5", "60m"] {
            let e = Interval::parse(bad).unwrap_err().to_string();
            assert!(e.contains("1s, 1m, 3m, 5m, 15m, 30m, 1h"), "{e}");
            assert!(e.contains("1w, 1M"), "{e}");
        }
    }
}
