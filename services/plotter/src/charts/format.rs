//! How numbers, and durations are written on the charts. Binance prices span
//! ten orders of magnitude (SHIB near 0.00001, BTC near 100 000), so decimals are
//! chosen from the values being shown rather than fixed; periods are written in
//! wall-clock units because a trader thinks in "hours", not in "2^j bars".

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
}
