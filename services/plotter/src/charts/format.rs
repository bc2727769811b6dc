//! How numbers, durations and dates are written on the charts. Binance prices span
//! ten orders of magnitude (SHIB near 0.00001, BTC near 100 000), so decimals are
//! chosen from the values being shown rather than fixed; periods are written in
//! wall-clock units because a trader thinks in "hours", not in "2^j bars".

/// Three-letter month names, January first.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Decimals for axis ticks about `step` apart: enough to tell neighbours apart.
pub(crate) fn tick_decimals(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 2;
    }
    (1.0 - step.log10().floor()).clamp(0.0, 12.0) as usize
}

/// Decimals for a price read-out: four significant digits of the largest price and
/// a twentieth of the range resolved, but never fewer than two (cents matter).
pub(crate) fn price_decimals(min: f64, max: f64) -> usize {
    let magnitude = min.abs().max(max.abs());
    let by_size = if magnitude > 0.0 {
        3.0 - magnitude.log10().floor()
    } else {
        2.0
    };
    let span = max - min;
    let by_span = if span > 0.0 {
        -(span / 20.0).log10().floor()
    } else {
        0.0
    };
    by_size.max(by_span).clamp(2.0, 12.0) as usize
}

/// Decimals that give `reference` three significant digits (for σ, amplitudes, ...).
pub(crate) fn sig_decimals(reference: f64) -> usize {
    if !(reference.is_finite() && reference != 0.0) {
        return 2;
    }
    (2.0 - reference.abs().log10().floor()).clamp(0.0, 12.0) as usize
}

/// `v` with `decimals` decimals, thousands separated by a thin space (a comma is a
/// smudge at label sizes, and means a decimal point to half the world) and a true
/// minus sign.
pub(crate) fn num(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    let text = format!("{:.*}", decimals, v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::with_capacity(text.len() + int.len() / 3 + 1);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push('\u{2009}');
        }
        grouped.push(c);
    }
    let negative = v < 0.0 && text.bytes().any(|b| matches!(b, b'1'..=b'9'));
    let sign = if negative { "−" } else { "" };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// `v` to three significant digits (`17.2`, `0.0000123`, `1,456`).
pub(crate) fn sig(v: f64) -> String {
    num(v, sig_decimals(v))
}

/// A volume or count in few characters: `950`, `12.3k`, `4.5M`, `1.2B`.
pub(crate) fn compact(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".to_owned();
    }
    let (scaled, suffix) = match a {
        _ if a >= 1e9 => (v / 1e9, "B"),
        _ if a >= 1e6 => (v / 1e6, "M"),
        _ if a >= 1e4 => (v / 1e3, "k"),
        _ => return num(v, if a >= 100.0 { 0 } else { sig_decimals(v) }),
    };
    format!("{}{suffix}", trimmed(scaled, 1))
}

/// `v` with at most `decimals` decimals and no trailing zeros (`10`, `1.3`).
fn trimmed(v: f64, decimals: usize) -> String {
    let s = num(v, decimals);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The unit a period is written in, chosen from its size.
fn unit(secs: f64) -> (f64, &'static str) {
    match secs {
        s if s < 60.0 => (1.0, "s"),
        s if s < 3_600.0 => (60.0, "min"),
        s if s < 86_400.0 => (3_600.0, "h"),
        _ => (86_400.0, "d"),
    }
}

/// A duration in its natural unit: `10 min`, `1.3 h`, `2 d`.
pub(crate) fn duration(secs: f64) -> String {
    let (scale, name) = unit(secs);
    format!("{} {name}", trimmed(secs / scale, 1))
}

/// A period band in one unit, chosen from its lower end: `10–20 min`, `1.3–2.7 h`, `1–2 d`.
pub(crate) fn band(lo_secs: f64, hi_secs: f64) -> String {
    let (scale, name) = unit(lo_secs);
    format!(
        "{}–{} {name}",
        trimmed(lo_secs / scale, 1),
        trimmed(hi_secs / scale, 1)
    )
}

/// A UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) second_of_day: i64,
}

impl Civil {
    /// The UTC date and time of `secs` since the Unix epoch.
    pub(crate) fn from_secs(secs: i64) -> Self {
        let (days, second_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Days to civil date in the proleptic Gregorian calendar, with eras of 400 years
        // starting on 1 March so that leap days fall at the end of a year.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year,
            month,
            day,
            second_of_day,
        }
    }

    /// Seconds since the epoch of midnight UTC on the first of `month` in `year`.
    pub(crate) fn month_start(year: i64, month: u32) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        (era * 146_097 + doe - 719_468) * 86_400
    }

    /// `Aug 14`.
    pub(crate) fn month_day(&self) -> String {
        format!("{} {}", MONTHS[self.month as usize - 1], self.day)
    }

    /// `Aug`.
    pub(crate) fn month_name(&self) -> &'static str {
        MONTHS[self.month as usize - 1]
    }

    /// `14:05`, or `14:05:30` with seconds.
    pub(crate) fn clock(&self, seconds: bool) -> String {
        let (h, m, s) = (
            self.second_of_day / 3_600,
            self.second_of_day / 60 % 60,
            self.second_of_day % 60,
        );
        if seconds {
            format!("{h:02}:{m:02}:{s:02}")
        } else {
            format!("{h:02}:{m:02}")
        }
    }
}

/// `2022-08-14 00:00` (UTC) for a time in milliseconds.
pub(crate) fn datetime_ms(ms: i64) -> String {
    let c = Civil::from_secs(ms.div_euclid(1000));
    format!("{}-{:02}-{:02} {}", c.year, c.month, c.day, c.clock(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_of_very_different_sizes_keep_their_meaningful_digits() {
        assert_eq!(price_decimals(23_686.09, 25_142.16), 2);
        assert_eq!(num(23_854.74, 2), "23\u{2009}854.74");
        let d = price_decimals(0.000_012_0, 0.000_012_6);
        assert_eq!(num(0.000_012_34, d), "0.00001234");
        assert_eq!(num(-1_234_567.0, 0), "−1\u{2009}234\u{2009}567");
        assert_eq!(num(-0.0001, 2), "0.00");
    }

    #[test]
    fn compact_numbers_use_k_m_and_b() {
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(12_345.0), "12.3k");
        assert_eq!(compact(4_500_000.0), "4.5M");
        assert_eq!(compact(2.5), "2.50");
        assert_eq!(compact(0.0), "0");
    }

    #[test]
    fn period_bands_are_written_in_wall_clock_units() {
        assert_eq!(band(600.0, 1_200.0), "10–20 min");
        assert_eq!(band(4_800.0, 9_600.0), "1.3–2.7 h");
        assert_eq!(band(86_400.0, 172_800.0), "1–2 d");
        assert_eq!(duration(76_800.0), "21.3 h");
    }

    #[test]
    fn civil_dates_match_the_calendar() {
        let c = Civil::from_secs(1_660_435_200);
        assert_eq!((c.year, c.month, c.day, c.second_of_day), (2022, 8, 14, 0));
        assert_eq!(Civil::month_start(2022, 8), 1_659_312_000);
        assert_eq!(Civil::from_secs(951_782_400).month_day(), "Feb 29");
        assert_eq!(datetime_ms(1_660_694_100_000), "2022-08-16 23:55");
    }
}
