//! The blob codec against good, damaged and hostile input.

use proptest::prelude::*;
use waveplot_protocol::blob::{
    Analysis, Anomalies, BandStats, Blob, Candles, Column, Header, Index, Levels, MAGIC, Parts,
    SCHEMA_MAJOR, SCHEMA_MINOR, Section, Signal, Signals, TAIL_BYTES, WindowSummary,
};
use waveplot_protocol::{AnalysisParams, BlobError, Interval, Source, Symbol};

fn blob(n: usize, levels: usize) -> Blob {
    let series = |f: fn(usize) -> f64| (0..n).map(f).collect::<Vec<f64>>();
    let candles = Candles {
        open_time_ms: (0..n as i64)
            .map(|i| 1_660_435_200_000 + i * 300_000)
            .collect(),
        close_time_ms: (0..n as i64)
            .map(|i| 1_660_435_499_999 + i * 300_000)
            .collect(),
        open: series(|i| 24_000.0 + i as f64),
        high: series(|i| 24_010.0 + i as f64),
        low: series(|i| 23_990.0 + i as f64),
        close: series(|i| 24_001.5 + i as f64),
        volume: series(|i| 10.0 + (i % 7) as f64),
        quote_volume: series(|i| 240_000.0 + i as f64),
        trades: (0..n as u64).collect(),
        taker_buy_base: series(|i| 5.0 + (i % 3) as f64),
        taker_buy_quote: series(|i| 120_000.0 + i as f64),
    };
    let analysis = Analysis {
        coeffs: vec![vec![1.0; n / 2 + 1], vec![0.5; n / 2 + 1]],
        details: (0..levels)
            .map(|j| {
                series(|i| (i as f64).sin())
                    .into_iter()
                    .map(|x| x / (j + 1) as f64)
                    .collect()
            })
            .collect(),
        smooths: (0..levels)
            .map(|_| series(|i| 24_000.0 + i as f64))
            .collect(),
        anomalies: Anomalies {
            k: 6.0,
            median: 1.0,
            mad: 0.5,
            threshold: 4.0,
            indices: vec![1, 3],
            values: vec![-5.0, 6.5],
        },
        signals: Signals {
            trend_level: levels as u32,
            deviation_std: 2.0,
            buffer: 1.6,
            buy: 1,
            sell: 1,
            hold: n as u32 - 2,
            signal: (0..n)
                .map(|i| match i {
                    0 => Signal::Buy,
                    1 => Signal::Sell,
                    _ => Signal::Hold,
                })
                .collect(),
        },
        bands: (1..=levels as u32)
            .map(|level| BandStats {
                level,
                period_min_bars: f64::from(1 << level),
                period_max_bars: f64::from(2 << level),
                peak_period_bars: (level < 3).then_some(3.5),
                amplitude: None,
                ..BandStats::default()
            })
            .collect(),
    };
    let summary = WindowSummary::of(candles.columns(), &analysis);
    Blob {
        header: Header {
            symbol: Symbol::parse("BTC").unwrap(),
            interval: Interval::M5,
            source: Source::Sample,
            source_label: "sample data (2022-08-14 to 2022-08-16)".into(),
            first_open_ms: candles.open_time_ms[0],
            last_open_ms: *candles.open_time_ms.last().unwrap(),
            last_close_ms: *candles.close_time_ms.last().unwrap(),
            candles: n as u32,
            missing_candles: 0,
            params: AnalysisParams::default(),
            levels_requested: 8,
            levels_used: levels as u32,
            level_note: (levels < 8).then(|| "window too short for 8 levels".to_owned()),
            backend: waveplot_protocol::blob::Backend::Cpu,
            device: "test".into(),
            created_ms: 1_700_000_000_000,
            load_ms: 0.5,
            analysis_ms: 0.25,
            summary: Some(summary),
        },
        candles,
        analysis,
    }
}

#[test]
fn a_blob_round_trips_exactly() {
    for (n, levels) in [(864, 8), (5, 2), (4, 0)] {
        let b = blob(n, levels);
        let bytes = b.encode().unwrap();
        assert_eq!(Blob::decode(&bytes).unwrap(), b, "n={n}");
    }
}

#[test]
fn the_header_reads_alone_with_the_summary_and_without_the_series() {
    let b = blob(864, 8);
    let bytes = b.encode().unwrap();
    let header = Blob::decode_header(&bytes).unwrap();
    assert_eq!(header, b.header);
    let summary = header.summary.unwrap();
    assert_eq!(summary.last_close, 24_001.5 + 863.0);
    assert_eq!((summary.anomalies, summary.buy, summary.sell), (2, 1, 1));
    assert_eq!(summary.bands.len(), 8);
    assert!((summary.change_pct() - 863.0 / 24_001.5 * 100.0).abs() < 1e-9);
    // The series are not read: a header followed by garbage still reads.
    // fixarray, bin8 magic (2 + 8 bytes), major, minor: 13 bytes before the header.
    let header_end = 13 + rmp_serde::to_vec_named(&b.header).unwrap().len();
    let mut cut = bytes[..header_end].to_vec();
    cut.extend_from_slice(&[0xc1; 64]);
    assert_eq!(Blob::decode_header(&cut).unwrap(), b.header);
    assert!(Blob::decode(&cut).is_err());
}

#[test]
fn a_blob_without_a_summary_still_reads() {
    let mut b = blob(16, 2);
    b.header.summary = None;
    let bytes = b.encode().unwrap();
    assert_eq!(Blob::decode(&bytes).unwrap(), b);
    assert_eq!(Blob::decode_header(&bytes).unwrap().summary, None);
}

#[test]
fn the_blob_starts_with_its_magic_and_version() {
    let bytes = blob(4, 1).encode().unwrap();
    // fixarray(8), bin8(8) "WAVEPLOT", major, minor
    assert_eq!(bytes[0], 0x98);
    assert_eq!(&bytes[1..3], &[0xc4, 8]);
    assert_eq!(&bytes[3..11], MAGIC);
    assert_eq!(u16::from(bytes[11]), SCHEMA_MAJOR);
}

#[test]
fn garbage_and_a_wrong_magic_are_not_a_blob() {
    for bad in [
        &b""[..],
        b"hello",
        &[
            0x96, 0xc4, 8, b'X', b'A', b'V', b'E', b'P', b'L', b'O', b'T', 1, 0,
        ],
    ] {
        assert!(
            matches!(Blob::decode(bad), Err(BlobError::BadMagic)),
            "{bad:?}"
        );
    }
}

#[test]
fn an_unknown_major_version_is_refused_with_both_versions_named() {
    let mut bytes = blob(4, 1).encode().unwrap();
    bytes[11] = 2;
    let e = Blob::decode(&bytes).unwrap_err();
    assert!(
        matches!(e, BlobError::UnsupportedVersion { major: 2, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&format!(
            "2.{SCHEMA_MINOR} is not supported (this build reads 1.x)"
        )),
        "{e}"
    );
}

#[test]
fn a_newer_minor_version_is_read() {
    let mut bytes = blob(4, 1).encode().unwrap();
    bytes[12] = 7;
    assert_eq!(Blob::decode(&bytes).unwrap(), blob(4, 1));
}

#[test]
fn every_truncation_is_a_malformed_blob() {
    let bytes = blob(16, 3).encode().unwrap();
    for cut in 0..bytes.len() {
        let e = Blob::decode(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(e, BlobError::BadMagic | BlobError::Malformed { .. }),
            "cut at {cut}: {e:?}"
        );
    }
}

/// A reader that hands out a few bytes at a time, as a network stream does.
struct Trickle<'b>(&'b [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(7);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_reader_keeps_only_the_parts_it_names_and_they_equal_the_whole_blobs() {
    let whole = blob(64, 4);
    let bytes = whole.encode().unwrap();
    let parts = Parts {
        columns: vec![Column::OpenTime, Column::Close],
        coeffs: false,
        details: Levels::Only(vec![1]),
        smooths: Levels::Only(vec![3]),
        signal: false,
    };
    let mut seen = None;
    let (part, kept) = Blob::decode_parts(Trickle(&bytes), |h| {
        seen = Some(h.candles);
        Ok(parts.clone())
    })
    .unwrap();
    assert_eq!(seen, Some(64), "the choice sees the header");
    assert_eq!(kept, parts);
    assert_eq!(part.header, whole.header);
    assert_eq!(part.candles.open_time_ms, whole.candles.open_time_ms);
    assert_eq!(part.candles.close, whole.candles.close);
    assert!(part.candles.open.is_empty() && part.candles.trades.is_empty());
    assert!(part.analysis.coeffs.is_empty());
    assert_eq!(part.analysis.details.len(), 4, "one place per level");
    assert_eq!(part.analysis.details[0], whole.analysis.details[0]);
    assert!(part.analysis.details[1..].iter().all(Vec::is_empty));
    assert_eq!(part.analysis.smooths[2], whole.analysis.smooths[2]);
    assert!(part.analysis.smooths[0].is_empty());
    assert!(part.analysis.signals.signal.is_empty());
    assert_eq!(part.analysis.signals.buy, whole.analysis.signals.buy);
    assert_eq!(part.analysis.anomalies, whole.analysis.anomalies);
    assert_eq!(part.analysis.bands, whole.analysis.bands);
    let (all, _) = Blob::decode_parts(Trickle(&bytes), |_| Ok(Parts::all())).unwrap();
    assert_eq!(all, whole);
}

#[test]
fn a_partial_read_still_checks_what_it_keeps_and_names_a_failing_reader() {
    let mut short = blob(16, 2);
    short.candles.close.pop();
    let bytes = short.encode().unwrap();
    let only = |columns: Vec<Column>| {
        move |_: &Header| {
            Ok(Parts {
                columns,
                coeffs: false,
                details: Levels::None,
                smooths: Levels::None,
                signal: false,
            })
        }
    };
    let err = Blob::decode_parts(&bytes[..], only(vec![Column::Close])).unwrap_err();
    assert!(err.to_string().contains("close has 15 values"), "{err}");
    Blob::decode_parts(&bytes[..], only(vec![Column::Open])).expect("close was not read");

    struct Broken<'b>(&'b [u8]);
    impl std::io::Read for Broken<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("connection reset"));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let good = blob(16, 2).encode().unwrap();
    for cut in [5, good.len() / 2] {
        let err = Blob::decode_parts(Broken(&good[..cut]), |_| Ok(Parts::all())).unwrap_err();
        assert!(matches!(err, BlobError::Read(_)), "cut at {cut}: {err:?}");
        assert!(err.to_string().contains("connection reset"), "{err}");
    }
    let err = Blob::decode_parts(&good[..good.len() / 2], |_| Ok(Parts::all())).unwrap_err();
    assert!(matches!(err, BlobError::Malformed { .. }), "{err:?}");
}

/// The index of `bytes`, found from their tail as a reader of the store does.
fn index_of(bytes: &[u8]) -> Option<Index> {
    let tail = &bytes[bytes.len().saturating_sub(TAIL_BYTES as usize)..];
    Index::from_tail(tail, bytes.len() as u64).unwrap()
}

/// A reader that reads the ranges `decode_sections` opens and counts their bytes.
fn sections(bytes: &[u8], parts: Parts) -> (Blob, u64, Vec<std::ops::Range<u64>>) {
    let index = index_of(bytes).expect("an index");
    let mut opened = Vec::new();
    let (blob, _) = Blob::decode_sections(
        &index,
        |_| Ok(parts),
        |r| {
            opened.push(r.clone());
            Ok(&bytes[r.start as usize..r.end as usize])
        },
    )
    .unwrap();
    let read = opened.iter().map(|r| r.end - r.start).sum();
    (blob, read, opened)
}

#[test]
fn the_index_names_every_section_and_a_reader_of_sections_reads_only_what_it_keeps() {
    let whole = blob(256, 4);
    let bytes = whole.encode().unwrap();
    let index = index_of(&bytes).unwrap();
    for j in 1..=4 {
        for s in [Section::Detail(j), Section::Smooth(j)] {
            let r = index.range(s).unwrap();
            let series: Vec<f64> =
                rmp_serde::from_slice(&bytes[r.start as usize..r.end as usize]).unwrap();
            assert_eq!(series.len(), 256, "{}", s.name());
            assert_eq!(Section::parse(&s.name()), Some(s));
        }
    }
    let (all, read, _) = sections(&bytes, Parts::all());
    assert_eq!(all, whole);
    assert!(read < bytes.len() as u64);
    let parts = Parts {
        columns: vec![Column::OpenTime, Column::Close],
        coeffs: false,
        details: Levels::Only(vec![2]),
        smooths: Levels::None,
        signal: false,
    };
    let (part, read, opened) = sections(&bytes, parts.clone());
    let (streamed, _) = Blob::decode_parts(&bytes[..], |_| Ok(parts)).unwrap();
    assert_eq!(part, streamed, "the same as the streaming reader");
    assert!(
        read * 3 < bytes.len() as u64,
        "{read} of {} bytes",
        bytes.len()
    );
    assert!(!opened.contains(&index.range(Section::Detail(1)).unwrap()));
}

#[test]
fn a_blob_in_memory_is_decoded_by_its_index_or_whole_without_one() {
    let whole = blob(256, 4);
    let bytes = whole.encode().unwrap();
    let parts = Parts {
        columns: vec![Column::OpenTime, Column::Low, Column::High, Column::Close],
        coeffs: false,
        details: Levels::Only(vec![1]),
        smooths: Levels::Only(vec![3]),
        signal: true,
    };
    let (streamed, _) = Blob::decode_parts(&bytes[..], |_| Ok(parts.clone())).unwrap();
    let (by_index, _) = Blob::decode_parts_in(&bytes, |_| Ok(parts.clone())).unwrap();
    assert_eq!(by_index, streamed);
    assert_eq!(
        Blob::decode_parts_in(&bytes, |_| Ok(Parts::all()))
            .unwrap()
            .0,
        whole
    );
    // Through the index: a section the chart does not draw is never parsed, so damage
    // there goes unnoticed, where the streaming reader stops at it.
    let unread = index_of(&bytes).unwrap().range(Section::Detail(2)).unwrap();
    let mut damaged = bytes.clone();
    damaged[unread.start as usize] = 0xc1;
    let (read, _) = Blob::decode_parts_in(&damaged, |_| Ok(parts.clone())).unwrap();
    assert_eq!(read, streamed);
    assert!(Blob::decode_parts(&damaged[..], |_| Ok(parts.clone())).is_err());
    // A blob written before 1.2 has no index and is read whole.
    let start = u64::from_be_bytes(bytes[bytes.len() - 8..].try_into().unwrap()) as usize;
    let mut old = bytes[..start].to_vec();
    old[0] = 0x96;
    let (read, _) = Blob::decode_parts_in(&old, |_| Ok(parts.clone())).unwrap();
    assert_eq!(read, streamed);
}

#[test]
fn a_reader_of_sections_reads_numbers_another_writer_encoded_otherwise() {
    // This crate writes every series value as a float 64; MessagePack lets another
    // writer use integers or float 32 where they hold the value exactly.
    let mut whole = blob(64, 2);
    whole.analysis.smooths[0] = (0..64).map(|i| f64::from(i * 1000)).collect();
    let bytes = whole.encode().unwrap();
    let index = index_of(&bytes).unwrap();
    let close: Vec<f32> = whole.candles.close.iter().map(|&v| v as f32).collect();
    let smooth: Vec<i64> = (0..64).map(|i| i * 1000).collect();
    let other = [
        (
            Section::Column(Column::Close),
            rmp_serde::to_vec(&close).unwrap(),
        ),
        (Section::Smooth(1), rmp_serde::to_vec(&smooth).unwrap()),
    ];
    let (read, _) = Blob::decode_sections(
        &index,
        |_| Ok(Parts::all()),
        |r| match other
            .iter()
            .find(|(s, _)| index.range(*s) == Some(r.clone()))
        {
            Some((_, encoded)) => {
                assert!(encoded.len() < (r.end - r.start) as usize);
                Ok(&encoded[..])
            }
            None => Ok(&bytes[r.start as usize..r.end as usize]),
        },
    )
    .unwrap();
    assert_eq!(read, whole);
}

#[test]
fn a_reader_of_sections_refuses_a_section_larger_than_the_candles_allow_before_reading_it() {
    let mut b = blob(10_000, 2);
    b.header.candles = 10;
    let bytes = b.encode().unwrap();
    let index = index_of(&bytes).unwrap();
    let mut opened = Vec::new();
    let e = Blob::decode_sections(
        &index,
        |_| Ok(Parts::all()),
        |r| {
            opened.push(r.clone());
            Ok(&bytes[r.start as usize..r.end as usize])
        },
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("larger than the blob's candles allow"),
        "{e}"
    );
    let first_column = index.range(Section::Column(Column::OpenTime)).unwrap();
    assert!(!opened.contains(&first_column), "refused before it is read");
}

#[test]
fn a_reader_of_sections_refuses_another_major_version_too() {
    let mut bytes = blob(16, 2).encode().unwrap();
    bytes[11] = 2;
    let index = index_of(&bytes).unwrap();
    let e = Blob::decode_sections(
        &index,
        |_| Ok(Parts::all()),
        |r| Ok(&bytes[r.start as usize..r.end as usize]),
    )
    .unwrap_err();
    assert!(
        matches!(e, BlobError::UnsupportedVersion { major: 2, .. }),
        "{e:?}"
    );
}

#[test]
fn a_blob_before_the_index_has_none_and_a_broken_trailer_is_malformed() {
    let bytes = blob(16, 2).encode().unwrap();
    let start = u64::from_be_bytes(bytes[bytes.len() - 8..].try_into().unwrap()) as usize;
    let mut old = bytes[..start].to_vec();
    old[0] = 0x96;
    assert_eq!(Blob::decode(&old).unwrap(), blob(16, 2), "a 1.1 blob reads");
    assert_eq!(index_of(&old), None, "and has no index");
    let mut broken = bytes.clone();
    let at = broken.len() - 8;
    broken[at..].copy_from_slice(&(bytes.len() as u64 * 2).to_be_bytes());
    let tail = &broken[broken.len().saturating_sub(TAIL_BYTES as usize)..];
    let e = Index::from_tail(tail, broken.len() as u64).unwrap_err();
    assert!(matches!(e, BlobError::Malformed { .. }), "{e:?}");
}

#[test]
fn inconsistent_lengths_are_refused_with_the_series_named() {
    let mut b = blob(10, 2);
    b.analysis.details[1].pop();
    let e = Blob::decode(&b.encode().unwrap()).unwrap_err();
    assert!(
        e.to_string()
            .contains("details has 9 values for 10 candles"),
        "{e}"
    );

    let mut b = blob(10, 2);
    b.header.levels_used = 3;
    let e = Blob::decode(&b.encode().unwrap()).unwrap_err();
    assert!(e.to_string().contains("the header says 3"), "{e}");

    let mut b = blob(10, 2);
    b.analysis.anomalies.indices[0] = 10;
    assert!(matches!(
        Blob::decode(&b.encode().unwrap()),
        Err(BlobError::Inconsistent(_))
    ));
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Blob::decode(&bytes);
    }

    #[test]
    fn decoding_a_damaged_blob_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = blob(12, 2).encode().unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = Blob::decode(&bytes);
    }

    #[test]
    fn a_valid_prefix_with_a_huge_length_prefix_does_not_allocate_it(len in 1_000_000u32..u32::MAX) {
        let mut bytes = blob(2, 1).encode().unwrap()[..13].to_vec();
        bytes.push(0xdd); // array32 header claiming `len` elements
        bytes.extend_from_slice(&len.to_be_bytes());
        prop_assert!(Blob::decode(&bytes).is_err());
    }
}
