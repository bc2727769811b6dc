//! The klines file reader on CSV text: with or without a header, errors with their line,
//! the candles a span keeps, and the spacing check.

use super::*;
use crate::source::klines::tests::{ROWS, rows_in_microseconds};

const HEADER: &str = "open_time_ms,open,high,low,close,volume,close_time_ms,quote_volume,trades,taker_buy_base,taker_buy_quote,ignore\n";

fn err(csv: &str) -> String {
    parse(csv.as_bytes(), "k.csv").unwrap_err().to_string()
}

#[test]
fn a_file_with_and_without_header_reads_the_same() {
    let plain = parse(ROWS.as_bytes(), "k.csv").unwrap();
    let headed = parse(format!("{HEADER}{ROWS}").as_bytes(), "k.csv").unwrap();
    assert!(!plain.had_header && headed.had_header);
    assert_eq!(plain.candles, headed.candles);
    assert_eq!(plain.candles.len(), 3);
    assert_eq!(plain.candles.close[1], 24288.53);
    assert_eq!(plain.candles.trades[2], 3300);
}

#[test]
fn microsecond_times_become_milliseconds() {
    let loaded = parse(rows_in_microseconds().as_bytes(), "k.csv").unwrap();
    assert!(loaded.micros);
    assert_eq!(
        loaded.candles,
        parse(ROWS.as_bytes(), "k.csv").unwrap().candles
    );
}

#[test]
fn a_broken_row_is_reported_with_its_line_and_column() {
    let e = err(&format!(
        "{HEADER}{}",
        ROWS.replace("24288.53,130.30", "abc,130.30")
    ));
    assert!(
        e.contains("k.csv line 3: close 'abc' is not a finite number"),
        "{e}"
    );
    let e = err("1,2,3\n");
    assert!(e.contains("line 1: 3 columns; a klines row has 12"), "{e}");
    let e = err(&ROWS.replace("24305.24,", "NaN,"));
    assert!(e.contains("line 1: open 'NaN'"), "{e}");
}

/// `rows` 5-minute candles from 2022-08-14 00:00 UTC, with a header.
pub(crate) fn many(rows: usize) -> String {
    let mut csv = HEADER.to_owned();
    for i in 0..rows {
        let t = 1_660_435_200_000 + i as i64 * 300_000;
        let p = 20_000.0 + i as f64;
        csv += &format!(
            "{t},{p},{},{},{p},1,{},1,1,1,1,0\n",
            p + 5.0,
            p - 5.0,
            t + 299_999
        );
    }
    csv
}

#[test]
fn a_span_keeps_what_cutting_the_whole_file_would() {
    let csv = many(1_000);
    let all = parse(csv.as_bytes(), "k.csv").unwrap().candles;
    let t = |i: usize| all.open_time_ms[i];
    for (n, end) in [
        (1, None),
        (7, None),
        (300, Some(t(500))),
        (999, Some(t(998))),
        (5_000, None),
        (10, Some(t(0) - 1)),
    ] {
        let span = Span::Last { n, end_ms: end };
        let kept = parse_from(csv.as_bytes(), "k.csv", Some(span))
            .unwrap()
            .candles;
        let want = span.cut(&all).unwrap_or_default();
        assert_eq!(kept, want, "last {n} up to {end:?}");
    }
    for (start, end) in [
        (t(10), t(20)),
        (t(0) - 1, t(999) + 1),
        (t(999) + 1, t(999) + 2),
    ] {
        let span = Span::Between {
            start_ms: start,
            end_ms: end,
        };
        let kept = parse_from(csv.as_bytes(), "k.csv", Some(span))
            .unwrap()
            .candles;
        let want = span.cut(&all).unwrap_or_default();
        assert_eq!(kept, want, "between {start} and {end}");
    }
}

#[test]
fn rows_outside_the_span_are_checked_too() {
    let csv = many(100).replace(",20090,", ",-1,");
    let span = Span::Last {
        n: 10,
        end_ms: Some(1_660_435_200_000),
    };
    let e = parse_from(csv.as_bytes(), "k.csv", Some(span))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 87: a price is zero or negative"), "{e}");
}

#[test]
fn an_empty_file_says_what_was_expected() {
    assert!(err("").contains("has no candles"));
    assert!(err(HEADER).contains("has no candles"));
}

#[test]
fn the_interval_must_match_the_spacing() {
    let loaded = parse(ROWS.as_bytes(), "k.csv").unwrap();
    check_spacing(&loaded.candles.open_time_ms, Interval::M5, "k.csv").unwrap();
    let e = check_spacing(&loaded.candles.open_time_ms, Interval::H1, "k.csv")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("looks like 5m candles") && e.contains("--interval 5m"),
        "{e}"
    );
}

/// Seen while writing the `csv` fuzz target, which panics on it without the fix: the
/// spacing of open times at both ends of i64 overflowed (a panic in debug builds, a
/// wrong spacing in release builds). Times before 1970 are now refused outright.
#[test]
fn open_times_before_1970_are_refused_and_spacing_never_overflows() {
    let csv = format!(
        "{HEADER}-9223372036854775808,1,1,1,1,1,-9223372036854775808,1,1,1,1,0\n1,1,1,1,1,1,1,1,1,1,1,0\n"
    );
    let e = read_bytes(csv.as_bytes(), "k.csv", Interval::M5)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 2: open time -9223372036854775808 is before 1970"),
        "{e}"
    );
    let times = [i64::MIN, 0, i64::MAX];
    assert_eq!(most_common_step(&times), Some(i64::MAX));
}
