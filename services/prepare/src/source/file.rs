//! Klines files: Binance's 12-column CSV, with or without a header line, open and close
//! times in milliseconds or (as data.binance.vision files since 2025) microseconds, plain
//! or inside the `.zip` that data.binance.vision serves.
//!
//! A file is streamed and every row is checked (by [`super::klines`]); the first problem
//! is reported with its line number and what to do. Only the candles a request wants
//! are kept, so a render of 4 320 candles from a file of years of minutes holds a few
//! thousand rows, not the file; the service, which keeps whole files in memory (the
//! `parsed` cache), asks the same pass for every candle up to its budget, and holds up
//! to that many while it reads. The spacing of the open times must match the interval,
//! checked on the candles a request wants;
//! gaps in them are real (exchange maintenance) and are kept, never filled.

use std::io::{Read, Seek};
use std::path::Path;

use thiserror::Error;
use waveplot_protocol::Interval;
use waveplot_protocol::blob::Candles;

use super::Span;
use super::klines::Row;

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
    Ok(read_keeping(path, interval, span, 0)?.window)
}

/// What a read of a file for a span kept.
#[derive(Debug)]
pub(crate) struct Kept {
    /// The span's candles, their spacing checked against the interval.
    pub(crate) window: Loaded,
    /// Every candle of the file, when it had at most the number asked for (each row
    /// checked, the spacing checked only in the span).
    pub(crate) whole: Option<Candles>,
}

/// [`read`], keeping also every candle of the file while it has at most `whole_cap` of
/// them: one pass serves the window and, for a file that fits, the whole of it, so
/// that other windows of the file need not parse it again.
pub(crate) fn read_keeping(
    path: &Path,
    interval: Interval,
    span: Option<Span>,
    whole_cap: usize,
) -> Result<Kept, FileError> {
    let name = path.display().to_string();
    let io = |source| FileError::Io {
        path: name.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut magic = Vec::with_capacity(4);
    (&mut file).take(4).read_to_end(&mut magic).map_err(io)?;
    file.rewind().map_err(io)?;
    let input = std::io::BufReader::new(file);
    let (loaded, whole) = if super::archive::is_zip(&magic) {
        super::archive::with_csv(input, &name, |csv| {
            parse_keeping(csv, &name, span, whole_cap)
        })?
    } else {
        parse_keeping(input, &name, span, whole_cap)?
    };
    let kept = if whole {
        let window = Loaded {
            candles: span.map_or_else(
                || loaded.candles.clone(),
                |s| loaded.candles.slice(s.range(&loaded.candles.open_time_ms)),
            ),
            ..loaded
        };
        Kept {
            window,
            whole: Some(loaded.candles),
        }
    } else {
        Kept {
            window: loaded,
            whole: None,
        }
    };
    check_spacing(&kept.window.candles.open_time_ms, interval, &name)?;
    Ok(kept)
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
    check_spacing(&loaded.candles.open_time_ms, interval, name)?;
    Ok(loaded)
}

/// Parses klines CSV bytes, keeping every candle; `name` is used in error messages.
pub(crate) fn parse(bytes: &[u8], name: &str) -> Result<Loaded, FileError> {
    parse_from(bytes, name, None)
}

/// Parses klines CSV from `input`, checking every row and keeping the candles of
/// `span` (all without one); `name` is used in error messages.
fn parse_from(input: impl Read, name: &str, span: Option<Span>) -> Result<Loaded, FileError> {
    parse_keeping(input, name, span, 0).map(|(loaded, _)| loaded)
}

/// [`parse_from`], keeping every candle while there are at most `whole_cap` of them;
/// true with the candles when all were kept.
fn parse_keeping(
    input: impl Read,
    name: &str,
    span: Option<Span>,
    whole_cap: usize,
) -> Result<(Loaded, bool), FileError> {
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
    let mut whole = whole_cap > 0;
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
        if whole {
            row.append(&mut out.candles);
            if rows > whole_cap {
                whole = false;
                if let Some(span) = span {
                    out.candles = out.candles.slice(span.range(&out.candles.open_time_ms));
                }
            }
        } else {
            keep(&mut out.candles, row, span);
        }
    }
    if rows == 0 {
        return Err(FileError::Empty {
            path: name.to_owned(),
        });
    }
    if whole {
        return Ok((out, true));
    }
    if let Some(Span::Last { n, .. }) = span {
        let len = out.candles.len();
        if len > n {
            out.candles = out.candles.slice(len - n..len);
        }
    }
    Ok((out, false))
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

/// Checks that the most common spacing of `open_time_ms` is the interval (months
/// vary, so `1M` accepts 28 to 31 days).
pub(crate) fn check_spacing(
    open_time_ms: &[i64],
    interval: Interval,
    name: &str,
) -> Result<(), FileError> {
    let Some(step_ms) = most_common_step(open_time_ms) else {
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
pub(crate) mod tests;
