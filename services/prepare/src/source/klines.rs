//! Klines rows, wherever they come from: a file's CSV line and a Binance page's array
//! are both Binance's 12 columns, parsed and checked here the same way (positive prices
//! that the high and low enclose, non-negative volumes, times after 1970 and in order,
//! microseconds turned into milliseconds). Also what the sources and the command line
//! say about candles: the gaps between open times, and times written for messages.

use waveplot_protocol::Interval;
use waveplot_protocol::blob::Candles;

/// Open times at or above this are microseconds (in ms it would be the year 5138).
const MICROS_THRESHOLD: i64 = 100_000_000_000_000;

/// Columns a row must have: Binance's 12, of which the last (`ignore`) may be missing.
const MIN_COLUMNS: usize = 11;

/// Parses one klines row, checks it, and appends it after the last candle (which it
/// must follow); true if its times were microseconds.
pub(crate) fn push_record(candles: &mut Candles, record: &csv::ByteRecord) -> Result<bool, String> {
    let row = Row::parse(record)?;
    row.check(candles.open_time_ms.last().copied())?;
    let micros = row.micros;
    row.append(candles);
    Ok(micros)
}

/// One parsed row, times in ms.
pub(super) struct Row {
    /// When the candle opened, ms.
    pub(super) open_time: i64,
    close_time: i64,
    ohlc: [f64; 4],
    volume: f64,
    quote_volume: f64,
    trades: u64,
    taker_buy_base: f64,
    taker_buy_quote: f64,
    /// Whether the times were microseconds (and were converted to ms).
    pub(super) micros: bool,
}

/// The names of the columns, for messages.
const NAMES: [&str; 11] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_base",
    "taker_buy_quote",
];

impl Row {
    /// Parses a row of Binance's klines columns, as text; the problem says which column
    /// is wrong and why.
    pub(super) fn parse(record: &csv::ByteRecord) -> Result<Self, String> {
        if record.len() < MIN_COLUMNS {
            return Err(format!(
                "{} columns; a klines row has 12 (open_time,open,high,low,close,volume,close_time,quote_volume,trades,taker_buy_base,taker_buy_quote,ignore)",
                record.len()
            ));
        }
        let text = |i: usize| std::str::from_utf8(&record[i]).unwrap_or("").trim();
        let int = |i: usize| {
            text(i)
                .parse::<i64>()
                .map_err(|_| format!("{} '{}' is not a whole number", NAMES[i], text(i)))
        };
        let num = |i: usize| match text(i).parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!("{} '{}' is not a finite number", NAMES[i], text(i))),
        };
        let raw_open = int(0)?;
        let micros = raw_open >= MICROS_THRESHOLD;
        let to_ms = |t: i64| if micros { t.div_euclid(1000) } else { t };
        Ok(Self {
            open_time: to_ms(raw_open),
            close_time: to_ms(int(6)?),
            ohlc: [num(1)?, num(2)?, num(3)?, num(4)?],
            volume: num(5)?,
            quote_volume: num(7)?,
            trades: u64::try_from(int(8)?).map_err(|_| "trades is negative".to_owned())?,
            taker_buy_base: num(9)?,
            taker_buy_quote: num(10)?,
            micros,
        })
    }

    /// Checks the row's own consistency and that it opens after `previous`.
    pub(super) fn check(&self, previous: Option<i64>) -> Result<(), String> {
        let [open, high, low, close] = self.ohlc;
        if self.ohlc.iter().any(|p| *p <= 0.0) {
            return Err("a price is zero or negative; prices must be positive".into());
        }
        if high < open.max(close) || low > open.min(close) || low > high {
            return Err(format!(
                "inconsistent candle: high {high} and low {low} must enclose open {open} and close {close}"
            ));
        }
        if self.volume < 0.0 || self.quote_volume < 0.0 {
            return Err("volume is negative".into());
        }
        if self.open_time < 0 {
            return Err(format!(
                "open time {} is before 1970; open times are milliseconds (or microseconds) since 1970-01-01 UTC",
                self.open_time
            ));
        }
        if self.close_time < self.open_time {
            return Err("close time is before open time".into());
        }
        if let Some(prev) = previous {
            if self.open_time <= prev {
                return Err(format!(
                    "open time {} is not after the previous row's {}; rows must be oldest first without duplicates",
                    fmt_ms(self.open_time),
                    fmt_ms(prev)
                ));
            }
        }
        Ok(())
    }

    /// Appends the row to the columns of `c`.
    pub(super) fn append(self, c: &mut Candles) {
        let [open, high, low, close] = self.ohlc;
        c.open_time_ms.push(self.open_time);
        c.close_time_ms.push(self.close_time);
        c.open.push(open);
        c.high.push(high);
        c.low.push(low);
        c.close.push(close);
        c.volume.push(self.volume);
        c.quote_volume.push(self.quote_volume);
        c.trades.push(self.trades);
        c.taker_buy_base.push(self.taker_buy_base);
        c.taker_buy_quote.push(self.taker_buy_quote);
    }
}

/// A UTC time for messages, e.g. `2022-08-16T23:55:00Z`.
pub(crate) fn fmt_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| format!("{ms} ms"), |t| t.to_string())
}

/// Candles missing between consecutive open times, given the interval (0 for `1M`,
/// whose calendar months have no fixed length).
pub(crate) fn missing_candles(open_times: &[i64], interval: Interval) -> u32 {
    if interval == Interval::Mo1 {
        return 0;
    }
    let step = interval.millis();
    let missing: i64 = open_times
        .windows(2)
        .map(|w| (w[1].saturating_sub(w[0]) / step - 1).max(0))
        .sum();
    u32::try_from(missing).unwrap_or(u32::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Three 5-minute klines rows from 2022-08-14 00:00 UTC, without a header.
    pub(crate) const ROWS: &str = "\
1660435200000,24305.24,24333.00,24286.66,24306.40,98.42,1660435499999,2391937.2,2567,48.8,1186071.4,0
1660435500000,24306.40,24339.01,24280.00,24288.53,130.30,1660435799999,3166131.5,3194,60.1,1460399.6,0
1660435800000,24288.53,24300.00,24250.00,24260.10,150.00,1660436099999,3640000.0,3300,70.0,1700000.0,0
";

    /// The candles of comma-separated `rows`, and whether any had microsecond times.
    fn push_all(rows: &str) -> Result<(Candles, bool), String> {
        let mut candles = Candles::default();
        let mut micros = false;
        for line in rows.lines() {
            let record = csv::ByteRecord::from(line.split(',').collect::<Vec<_>>());
            micros |= push_record(&mut candles, &record)?;
        }
        Ok((candles, micros))
    }

    fn err(rows: &str) -> String {
        push_all(rows).unwrap_err()
    }

    /// [`ROWS`] with open and close times in microseconds, as Binance writes them since 2025.
    pub(crate) fn rows_in_microseconds() -> String {
        [
            "1660435200000,",
            "1660435499999,",
            "1660435500000,",
            "1660435799999,",
            "1660435800000,",
            "1660436099999,",
        ]
        .iter()
        .fold(ROWS.to_owned(), |rows, ms| {
            rows.replace(ms, &format!("{}000,", ms.trim_end_matches(',')))
        })
    }

    #[test]
    fn microsecond_times_become_milliseconds() {
        let (candles, was_micros) = push_all(&rows_in_microseconds()).unwrap();
        assert!(was_micros);
        assert_eq!(candles, push_all(ROWS).unwrap().0);
    }

    #[test]
    fn a_broken_field_is_named_with_its_column() {
        let e = err(&ROWS.replace("24288.53,130.30", "abc,130.30"));
        assert_eq!(e, "close 'abc' is not a finite number");
        assert!(err("1,2,3").starts_with("3 columns; a klines row has 12"));
        assert!(err(&ROWS.replace("24305.24,", "NaN,")).starts_with("open 'NaN'"));
    }

    #[test]
    fn impossible_candles_are_refused() {
        assert!(err(&ROWS.replace("24305.24,", "0,")).contains("zero or negative"));
        assert!(err(&ROWS.replace("24305.24,", "-1,")).contains("zero or negative"));
        assert!(err(&ROWS.replace("24333.00,", "24000.00,")).contains("must enclose"));
        assert!(err(&ROWS.replace(",98.42,", ",-98.42,")).contains("volume is negative"));
    }

    #[test]
    fn duplicate_or_unordered_times_are_refused_with_both_times() {
        let dup = ROWS.replace("1660435500000,", "1660435200000,");
        let e = err(&dup);
        assert!(
            e.starts_with("open time 2022-08-14T00:00:00Z is not after"),
            "{e}"
        );
    }

    #[test]
    fn open_times_before_1970_are_refused() {
        let e = err("-9223372036854775808,1,1,1,1,1,-9223372036854775808,1,1,1,1,0");
        assert!(
            e.starts_with("open time -9223372036854775808 is before 1970"),
            "{e}"
        );
    }

    #[test]
    fn gaps_are_counted_and_the_count_never_overflows() {
        let times = [0, 300_000, 1_200_000, 1_500_000];
        assert_eq!(missing_candles(&times, Interval::M5), 2);
        assert_eq!(missing_candles(&times, Interval::Mo1), 0);
        let times = [i64::MIN, 0, i64::MAX];
        assert_eq!(missing_candles(&times, Interval::M5), u32::MAX);
    }
}
