//! The `.zip` archives of data.binance.vision, read exactly as downloaded: each holds
//! one klines CSV (no header) named like the archive. Only the CSV inside is used; its
//! rows are checked by the `file` module like any other klines file.

use std::io::{Read, Seek};

use super::file::FileError;

/// Largest CSV taken out of an archive: a month of 1s candles is about 300 MB, so this
/// leaves room for real downloads while refusing a "zip bomb" (which, streamed, would
/// cost no memory but hold an analysis slot for as long as it inflates).
const MAX_CSV_BYTES: u64 = 1 << 30;

/// True if the bytes are a zip archive (by its local-file-header signature, so a
/// renamed download is still recognised).
pub(crate) fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Runs `read` on the decompressing reader of the archive's first `.csv` entry, which
/// fails once it passes [`MAX_CSV_BYTES`]; `name` is used in errors.
pub(crate) fn with_csv<T>(
    archive: impl Read + Seek,
    name: &str,
    read: impl FnOnce(&mut dyn Read) -> Result<T, FileError>,
) -> Result<T, FileError> {
    let fail = |problem: String| FileError::Zip {
        path: name.to_owned(),
        problem,
    };
    let mut archive = zip::ZipArchive::new(archive)
        .map_err(|e| fail(format!("not a readable zip archive: {e}")))?;
    let index = (0..archive.len())
        .find(|&i| {
            archive
                .name_for_index(i)
                .is_some_and(|n| n.to_ascii_lowercase().ends_with(".csv"))
        })
        .ok_or_else(|| fail("the archive holds no .csv file".into()))?;
    let entry = archive
        .by_index(index)
        .map_err(|e| fail(format!("cannot open the CSV inside: {e}")))?;
    read(&mut Capped {
        inner: entry,
        left: MAX_CSV_BYTES,
    })
}

/// A reader that fails, rather than ending early, when its source holds more than
/// `left` bytes: a cut-off CSV would lose its newest candles without a word.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return match self.inner.read(&mut [0u8])? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(format!(
                    "the CSV inside is larger than {} MiB; split it (data.binance.vision serves one month or day per file)",
                    MAX_CSV_BYTES >> 20
                ))),
            };
        }
        let room = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..room])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A deflated archive like data.binance.vision's, holding `csv` under `entry`.
    fn zipped(entry: &str, csv: &str) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        out.start_file(entry, options).unwrap();
        out.write_all(csv.as_bytes()).unwrap();
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn the_csv_inside_a_download_is_taken_out_unchanged() {
        let bytes = zipped("BTCUSDT-5m-2025-01.csv", "1,2,3\n");
        assert!(is_zip(&bytes));
        let csv = with_csv(std::io::Cursor::new(bytes), "a.zip", |csv| {
            let mut out = Vec::new();
            csv.read_to_end(&mut out).unwrap();
            Ok(out)
        });
        assert_eq!(csv.unwrap(), b"1,2,3\n");
    }

    #[test]
    fn a_csv_longer_than_the_cap_is_an_error_not_a_cut() {
        let read = |bytes: &[u8], cap| {
            let mut out = Vec::new();
            Capped {
                inner: bytes,
                left: cap,
            }
            .read_to_end(&mut out)
            .map(|_| out)
        };
        assert_eq!(read(b"0123456789", 10).unwrap(), b"0123456789");
        let e = read(b"0123456789", 9).unwrap_err();
        assert!(
            e.to_string().contains("larger than 1024 MiB; split it"),
            "{e}"
        );
    }

    #[test]
    fn an_archive_without_a_csv_or_a_broken_one_says_so() {
        let open = |bytes: Vec<u8>, name| with_csv(std::io::Cursor::new(bytes), name, |_| Ok(()));
        let e = open(zipped("notes.txt", "x"), "a.zip").unwrap_err();
        assert!(
            e.to_string().contains("a.zip: the archive holds no .csv"),
            "{e}"
        );
        let e = open(b"PK\x03\x04garbage".to_vec(), "b.zip").unwrap_err();
        assert!(e.to_string().contains("b.zip: not a readable zip"), "{e}");
    }

    #[test]
    fn a_zip_download_with_microsecond_times_reads_like_the_plain_file() {
        let rows = "1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827,1735689899999999,768978.9,1322,4.81,450000.1,0
1735689900000000,93610.93,93652.00,93606.00,93651.99,12.59,1735690199999999,1179000.0,1900,6.1,571000.0,0
";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("BTCUSDT-5m-2025-01-01.zip");
        std::fs::write(&path, zipped("BTCUSDT-5m-2025-01-01.csv", rows)).unwrap();
        let loaded =
            crate::source::file::read(&path, waveplot_protocol::Interval::M5, None).unwrap();
        assert!(loaded.micros && !loaded.had_header);
        assert_eq!(
            loaded.candles.open_time_ms,
            [1_735_689_600_000, 1_735_689_900_000]
        );
        assert_eq!(loaded.candles.close[1], 93651.99);
    }
}
