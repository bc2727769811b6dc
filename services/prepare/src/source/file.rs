//! Klines files: Binance's 12-column CSV, with or without a header line, open and close
//! times in milliseconds or (as data.binance.vision files since 2025) microseconds, plain
//! or inside the `.zip` that data.binance.vision serves.
//!
//! A file is streamed and every row is checked (by [`super::klines`]); the first problem
//! is reported with its line number and what to do. Only the candles a request wants
//! are kept, so a render of 4 320 candles from a file of years of minutes holds a few
//! thousand rows, not the file. The spacing of the open times must match the interval;
//! gaps in them are real (exchange maintenance) and are kept, never filled.

use std::io::{Read, Seek};
use std::path::Path;

use thiserror::Error;
use waveplot_protocol::Interval;
use waveplot_protocol::blob::Candles;

use super::Span;
use super::klines::Row;
// The analysis counts a window's gaps through this module.
pub(crate) use super::klines::missing_candles;

/// Why a klines file could not be read.
#[derive(Debug, Error)]
pub(crate) enum FileError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file has no candle rows.
    #[error(
        "{path} has no candles; expected Binance klines CSV rows (open_time,open,high,low,close,volume,...)"
    )]
    Empty {
        /// The file.
        path: String,
    },
    /// A `.zip` download that holds no readable CSV.
    #[error("{path}: {problem}")]
    Zip {
        /// The file.
        path: String,
        /// What is wrong with the archive.
        problem: String,
    },
    /// A row is malformed or breaks an invariant.
    #[error("{path} line {line}: {problem}")]
    Row {
        /// The file.
        path: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong with the row.
        problem: String,
    },
    /// The file's candle spacing does not match the interval given.
    #[error(
        "{path} looks like {found} candles (most open times are {step_s} s apart), not {expected}; pass --interval {found}"
    )]
    IntervalMismatch {
        /// The file.
        path: String,
        /// The interval given.
        expected: Interval,
        /// The interval the spacing suggests.
        found: String,
        /// The most common spacing in seconds.
        step_s: i64,
    },
}

/// A klines file's candles and what was noticed while reading it.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The candles, oldest first.
    pub(crate) candles: Candles,
    /// Whether the file had a header line.
    pub(crate) had_header: bool,
    /// Whether the times were in microseconds (and were converted to ms).
    pub(crate) micros: bool,
}

/// Reads a klines file (plain or zipped) as a stream, keeps the candles of `span` (all
/// of them without one) and checks their spacing against `interval`.
pub(crate) fn read(
    path: &Path,
    interval: Interval,
    span: Option<Span>,
) -> Result<Loaded, FileError> {
    let name = path.display().to_string();
    let io = |source| FileError::Io {
        path: name.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut magic = Vec::with_capacity(4);
    (&mut file).take(4).read_to_end(&mut magic).map_err(io)?;
    file.rewind().map_err(io)?;
    read_from(std::io::BufReader::new(file), &magic, &name, interval, span)
}

/// Reads the bytes of a klines file (plain or zipped), keeping every candle, and checks
/// them against `interval`; `name` is used in error messages.
pub(crate) fn read_bytes(
    bytes: &[u8],
    name: &str,
    interval: Interval,
) -> Result<Loaded, FileError> {
    read_from(std::io::Cursor::new(bytes), bytes, name, interval, None)
}

/// A klines file whose first bytes are `magic`, from `input`.
fn read_from(
    input: impl Read + Seek,
    magic: &[u8],
    name: &str,
    interval: Interval,
    span: Option<Span>,
) -> Result<Loaded, FileError> {
    let loaded = if super::archive::is_zip(magic) {
        super::archive::with_csv(input, name, |csv| parse_from(csv, name, span))?
    } else {
        parse_from(input, name, span)?
    };
    check_spacing(&loaded.candles, interval, name)?;
    Ok(loaded)
}

/// Parses klines CSV bytes, keeping every candle; `name` is used in error messages.
pub(crate) fn parse(bytes: &[u8], name: &str) -> Result<Loaded, FileError> {
    parse_from(bytes, name, None)
}

/// Parses klines CSV from `input`, checking every row and keeping the candles of
/// `span` (all without one); `name` is used in error messages.
fn parse_from(input: impl Read, name: &str, span: Option<Span>) -> Result<Loaded, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut out = Loaded {
        candles: Candles::default(),
        had_header: false,
        micros: false,
    };
    let mut record = csv::ByteRecord::new();
    let (mut rows, mut previous) = (0usize, None);
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(e, name))?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        let row_err = |problem: String| FileError::Row {
            path: name.to_owned(),
            line,
            problem,
        };
        if line == 1 && is_header(&record) {
            out.had_header = true;
            continue;
        }
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        let row = Row::parse(&record).map_err(row_err)?;
        row.check(previous).map_err(row_err)?;
        previous = Some(row.open_time);
        out.micros |= row.micros;
        rows += 1;
        keep(&mut out.candles, row, span);
    }
    if rows == 0 {
        return Err(FileError::Empty {
            path: name.to_owned(),
        });
    }
    if let Some(Span::Last { n, .. }) = span {
        let len = out.candles.len();
        if len > n {
            out.candles = out.candles.slice(len - n..len);
        }
    }
    Ok(out)
}

/// A CSV reader's error: the OS's when reading failed, else the line that is not CSV.
fn csv_error(e: csv::Error, name: &str) -> FileError {
    let (line, problem) = (
        e.position().map_or(0, |p| p.line()),
        format!("not CSV: {e}"),
    );
    match e.into_kind() {
        csv::ErrorKind::Io(source) => FileError::Io {
            path: name.to_owned(),
            source,
        },
        _ => FileError::Row {
            path: name.to_owned(),
            line,
            problem,
        },
    }
}

/// Appends `row` if `span` wants it. For the last `n`, at most `2n` candles are held:
/// the oldest `n` are dropped each time that fills up.
fn keep(candles: &mut Candles, row: Row, span: Option<Span>) {
    match span {
        None => row.append(candles),
        Some(Span::Last { n, end_ms }) => {
            if end_ms.is_none_or(|end| row.open_time <= end) {
                row.append(candles);
                let len = candles.len();
                if len >= 2 * n.max(1) {
                    *candles = candles.slice(len - n..len);
                }
            }
        }
        Some(Span::Between { start_ms, end_ms }) => {
            if (start_ms..=end_ms).contains(&row.open_time) {
                row.append(candles);
            }
        }
    }
}

/// True if `record` is a header line (its first field does not start with a digit).
fn is_header(record: &csv::ByteRecord) -> bool {
    record
        .get(0)
        .is_some_and(|f| f.first().is_some_and(|b| !b.is_ascii_digit()))
}

/// Checks that the most common spacing of open times is the interval (months vary, so
/// `1M` accepts 28 to 31 days).
pub(crate) fn check_spacing(c: &Candles, interval: Interval, name: &str) -> Result<(), FileError> {
    let Some(step_ms) = most_common_step(&c.open_time_ms) else {
        return Ok(());
    };
    let fits = match interval {
        Interval::Mo1 => (28 * 86_400_000..=31 * 86_400_000).contains(&step_ms),
        _ => step_ms == interval.millis(),
    };
    if fits {
        return Ok(());
    }
    let found = Interval::ALL
        .into_iter()
        .find(|i| i.millis() == step_ms)
        .map_or_else(|| format!("{} s", step_ms / 1000), |i| i.to_string());
    Err(FileError::IntervalMismatch {
        path: name.to_owned(),
        expected: interval,
        found,
        step_s: step_ms / 1000,
    })
}

/// The most common difference between consecutive open times.
fn most_common_step(times: &[i64]) -> Option<i64> {
    // Saturating: open times anywhere in i64 are accepted, and their spacing may not fit.
    let mut steps: Vec<i64> = times
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    steps.sort_unstable();
    steps
        .chunk_by(|a, b| a == b)
        .max_by_key(|run| run.len())
        .map(|run| run[0])
}

#[cfg(test)]
mod tests {
    use super::super::klines::tests::ROWS;
    use super::*;

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
        let micros = ROWS
            .replace("1660435200000,", "1660435200000000,")
            .replace("1660435499999,", "1660435499999999,")
            .replace("1660435500000,", "1660435500000000,")
            .replace("1660435799999,", "1660435799999999,")
            .replace("1660435800000,", "1660435800000000,")
            .replace("1660436099999,", "1660436099999999,");
        let loaded = parse(micros.as_bytes(), "k.csv").unwrap();
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
    fn many(rows: usize) -> String {
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
            let want = super::super::cut_window(&all, n, end).map_or(Candles::default(), |c| c);
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
            let want = super::super::between(&all, start, end).map_or(Candles::default(), |c| c);
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
        check_spacing(&loaded.candles, Interval::M5, "k.csv").unwrap();
        let e = check_spacing(&loaded.candles, Interval::H1, "k.csv")
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
}
