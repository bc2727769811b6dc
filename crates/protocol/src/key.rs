//! Object keys: where a blob and a chart live in the store.
//!
//! Keys are content-addressed: the same closed-candle window analysed with the same
//! parameters always gets the same key, so it is computed once and reused, and the
//! images under it never change (which is what lets the gateway cache them forever).
//!
//! - blob: `analysis/<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>.msgpack`
//! - chart: `plots/<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>/<PLOT>-<W>x<H>[@<ZONE>].<EXT>`
//! - a PNG chart's scene: `analysis/<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>/<PLOT>-<W>x<H>[@<ZONE>].scene-v<VERSION>`
//!
//! `END_MS` is the open time of the window's last candle, `N` the candle count, and
//! `HASH` the first 16 hex digits of a SHA-256 over the source, the analysis
//! parameters and the blob schema's major version. `@<ZONE>` appears for charts drawn
//! in a time zone other than UTC, with the IANA name's `/` written as `.`
//! (`@Europe.Berlin`).

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blob::SCHEMA_MAJOR;
use crate::error::ParseError;
use crate::interval::Interval;
use crate::plot::{ImageFormat, PlotId};
use crate::request::AnalysisParams;
use crate::scene::SCENE_VERSION;
use crate::source::Source;
use crate::symbol::Symbol;
use crate::zone::TimeZone;

const BLOB_EXT: &str = ".msgpack";

/// The end of a scene key: the scene version, so versions never share an object.
fn scene_ext() -> String {
    format!(".scene-v{SCENE_VERSION}")
}

/// What identifies an analysed window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowId<'a> {
    /// Trading pair.
    pub symbol: &'a Symbol,
    /// Kline interval.
    pub interval: Interval,
    /// Where the candles came from.
    pub source: &'a Source,
    /// Open time (ms) of the last candle.
    pub end_open_ms: i64,
    /// Number of candles.
    pub candles: u32,
    /// Analysis parameters, defaults resolved.
    pub params: &'a AnalysisParams,
}

/// The store key of an analysis blob.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobKey(String);

impl BlobKey {
    /// The folder every blob key is in (with its trailing `/`).
    pub const FOLDER: &'static str = "analysis/";

    /// The key of a window's blob.
    pub fn for_window(w: &WindowId<'_>) -> Self {
        let p = w.params;
        // A fixed, explicit layout (not a serializer's output) keeps keys stable across versions.
        let identity = format!(
            "blob-v{SCHEMA_MAJOR}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            w.source,
            p.wavelet,
            p.mode,
            p.mra,
            p.levels,
            p.anomaly_k,
            p.trend_level,
            w.symbol,
            w.interval
        );
        let digest = Sha256::digest(identity.as_bytes());
        let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self(format!(
            "{}{}/{}/{}-{}-{hash}{BLOB_EXT}",
            Self::FOLDER,
            w.symbol,
            w.interval,
            w.end_open_ms,
            w.candles
        ))
    }

    /// Parses a key given from outside (an event, a URL).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::Key {
            input: input.to_owned(),
            reason,
        };
        let rest = input
            .strip_prefix(Self::FOLDER)
            .ok_or_else(|| err("a blob key starts with 'analysis/'"))?;
        let stem = rest
            .strip_suffix(BLOB_EXT)
            .ok_or_else(|| err("a blob key ends with '.msgpack'"))?;
        check_window_path(stem).map_err(err)?;
        Ok(Self(input.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>`, shared by the blob and its charts.
    pub fn window_path(&self) -> &str {
        let rest = &self.0[Self::FOLDER.len()..];
        &rest[..rest.len() - BLOB_EXT.len()]
    }

    /// The key of one chart of this blob, drawn `width`×`height` as `format` with its
    /// times in `zone`.
    pub fn plot_key(
        &self,
        plot: PlotId,
        size: (u32, u32),
        format: ImageFormat,
        zone: &TimeZone,
    ) -> PlotKey {
        PlotKey(format!(
            "{}{}/{}.{format}",
            PlotKey::FOLDER,
            self.window_path(),
            chart_name(plot, size, zone)
        ))
    }

    /// The key of the scene (the chart-ready form) of one PNG chart of this blob, drawn
    /// `width`×`height` with its times in `zone`.
    pub fn scene_key(&self, plot: PlotId, size: (u32, u32), zone: &TimeZone) -> SceneKey {
        SceneKey(format!(
            "{}{}/{}{}",
            Self::FOLDER,
            self.window_path(),
            chart_name(plot, size, zone),
            scene_ext()
        ))
    }
}

/// `<PLOT>-<W>x<H>[@<ZONE>]`, what names a chart within its window.
fn chart_name(plot: PlotId, (width, height): (u32, u32), zone: &TimeZone) -> String {
    let zone = if zone.as_str() == "UTC" {
        String::new()
    } else {
        format!("@{}", zone.key_segment())
    };
    format!("{plot}-{width}x{height}{zone}")
}

/// Checks `<PLOT>-<W>x<H>[@<ZONE>]`, exactly as [`chart_name`] writes it.
fn check_chart_name(stem: &str) -> Option<()> {
    let stem = match stem.split_once('@') {
        Some((stem, zone)) => {
            TimeZone::from_key_segment(zone).ok()?;
            stem
        }
        None => stem,
    };
    let (plot, size) = stem.split_once('-')?;
    PlotId::parse(plot).ok()?;
    let (w, h) = size.split_once('x')?;
    w.parse::<u32>().ok()?;
    h.parse::<u32>().ok()?;
    Some(())
}

/// The store key of a chart image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlotKey(String);

impl PlotKey {
    /// The folder every chart key is in (with its trailing `/`). A store may keep this
    /// folder apart from the rest, so that a role that only serves charts holds a key
    /// for charts alone.
    pub const FOLDER: &'static str = "plots/";

    /// Parses a key given from outside (an event, a URL).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::Key {
            input: input.to_owned(),
            reason,
        };
        let rest = input
            .strip_prefix(Self::FOLDER)
            .ok_or_else(|| err("a chart key starts with 'plots/'"))?;
        let (window, file) = rest
            .rsplit_once('/')
            .ok_or_else(|| err("a chart key ends with '/<PLOT>-<W>x<H>.<EXT>'"))?;
        check_window_path(window).map_err(err)?;
        Self::check_file(file).map_err(err)?;
        Ok(Self(input.to_owned()))
    }

    fn check_file(file: &str) -> Result<(), &'static str> {
        let bad = "the file part must be '<PLOT>-<W>x<H>[@<ZONE>].<png|svg>'";
        let (stem, ext) = file.rsplit_once('.').ok_or(bad)?;
        // Exactly as written by `plot_key`: `format` reads the format from the extension.
        if ![ImageFormat::Png, ImageFormat::Svg]
            .map(ImageFormat::extension)
            .contains(&ext)
        {
            return Err(bad);
        }
        check_chart_name(stem).ok_or(bad)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>`: the window of the blob this chart was
    /// drawn from ([`BlobKey::window_path`]).
    pub fn window_path(&self) -> &str {
        let rest = &self.0[Self::FOLDER.len()..];
        rest.rsplit_once('/').map_or(rest, |(window, _)| window)
    }

    /// The image format, from the key's extension.
    pub fn format(&self) -> ImageFormat {
        if self.0.ends_with(".svg") {
            ImageFormat::Svg
        } else {
            ImageFormat::Png
        }
    }
}

/// The store key of a chart's scene ([`Scene`](crate::scene::Scene)), in the blob's
/// folder: `analysis/<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>/<PLOT>-<W>x<H>[@<ZONE>].scene-v<VERSION>`.
/// prepare writes it beside the blob; the plotters, which may read that folder but not
/// write it, replay it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SceneKey(String);

impl SceneKey {
    /// Parses a key given from outside (a listing of the store).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::Key {
            input: input.to_owned(),
            reason,
        };
        let bad = "a scene key is 'analysis/<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>/<PLOT>-<W>x<H>[@<ZONE>].scene-v<VERSION>'";
        let rest = input
            .strip_prefix(BlobKey::FOLDER)
            .ok_or_else(|| err(bad))?;
        let (window, file) = rest.rsplit_once('/').ok_or_else(|| err(bad))?;
        check_window_path(window).map_err(err)?;
        let stem = file
            .strip_suffix(scene_ext().as_str())
            .ok_or_else(|| err(bad))?;
        check_chart_name(stem).ok_or_else(|| err(bad))?;
        Ok(Self(input.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>`: the window of the blob this scene was
    /// drawn from ([`BlobKey::window_path`]).
    pub fn window_path(&self) -> &str {
        let rest = &self.0[BlobKey::FOLDER.len()..];
        rest.rsplit_once('/').map_or(rest, |(window, _)| window)
    }
}

/// Checks `<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>`.
fn check_window_path(path: &str) -> Result<(), &'static str> {
    let mut parts = path.split('/');
    let (Some(symbol), Some(interval), Some(window), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("expected '<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>'");
    };
    let canonical = Symbol::parse(symbol).map_err(|_| "bad symbol segment")?;
    if canonical.as_str() != symbol {
        return Err("the symbol segment is not in canonical form");
    }
    Interval::parse(interval).map_err(|_| "bad interval segment")?;
    let mut fields = window.splitn(3, '-');
    let (Some(end), Some(n), Some(hash)) = (fields.next(), fields.next(), fields.next()) else {
        return Err("expected '<END_MS>-<N>-<HASH>'");
    };
    end.parse::<i64>().map_err(|_| "bad end time")?;
    n.parse::<u32>().map_err(|_| "bad candle count")?;
    if hash.len() != 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the hash must be 16 hex digits");
    }
    Ok(())
}

macro_rules! key_text_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        crate::parse_impls!($t);
        impl From<$t> for String {
            fn from(k: $t) -> Self {
                k.0
            }
        }
    };
}
key_text_impls!(BlobKey);
key_text_impls!(PlotKey);
key_text_impls!(SceneKey);

#[cfg(test)]
mod tests {
    use super::*;

    fn key(params: &AnalysisParams, source: &Source, end: i64) -> BlobKey {
        BlobKey::for_window(&WindowId {
            symbol: &Symbol::parse("BTC").unwrap(),
            interval: Interval::M5,
            source,
            end_open_ms: end,
            candles: 864,
            params,
        })
    }

    #[test]
    fn equal_windows_share_a_key_and_any_difference_changes_it() {
        let p = AnalysisParams::default();
        let a = key(&p, &Source::Sample, 1_660_694_100_000);
        assert_eq!(a, key(&p, &Source::Sample, 1_660_694_100_000));
        assert!(
            a.as_str()
                .starts_with("analysis/BTCUSDT/5m/1660694100000-864-"),
            "{a}"
        );
        assert!(a.as_str().ends_with(".msgpack"));
        assert_ne!(a, key(&p, &Source::Binance, 1_660_694_100_000));
        assert_ne!(a, key(&p, &Source::Sample, 1_660_694_400_000));
        let db4 = AnalysisParams {
            wavelet: crate::Wavelet::parse("db4").unwrap(),
            ..p.clone()
        };
        assert_ne!(a, key(&db4, &Source::Sample, 1_660_694_100_000));
        let k5 = AnalysisParams {
            anomaly_k: 5.0,
            ..p
        };
        assert_ne!(a, key(&k5, &Source::Sample, 1_660_694_100_000));
    }

    #[test]
    fn keys_round_trip_through_parse_and_chart_keys_derive_from_blob_keys() {
        let blob = key(&AnalysisParams::default(), &Source::Sample, 42);
        assert_eq!(BlobKey::parse(blob.as_str()).unwrap(), blob);
        let plot = blob.plot_key(
            PlotId::Bands,
            (1280, 1800),
            ImageFormat::Png,
            &TimeZone::utc(),
        );
        assert!(
            plot.as_str().starts_with("plots/BTCUSDT/5m/42-864-"),
            "{plot}"
        );
        assert!(plot.as_str().ends_with("/02b-1280x1800.png"), "{plot}");
        assert_eq!(PlotKey::parse(plot.as_str()).unwrap(), plot);
        assert_eq!(plot.format(), ImageFormat::Png);
        assert!(blob.window_path().starts_with("BTCUSDT/5m/42-864-"));
        assert_eq!(plot.window_path(), blob.window_path());
        let json = serde_json::to_string(&plot).unwrap();
        assert_eq!(serde_json::from_str::<PlotKey>(&json).unwrap(), plot);
        let zone = TimeZone::parse("Europe/Berlin").unwrap();
        let scene = blob.scene_key(PlotId::Bands, (1280, 1800), &zone);
        assert!(
            scene.as_str().starts_with("analysis/BTCUSDT/5m/42-864-"),
            "{scene}"
        );
        assert!(
            scene.as_str().ends_with(&format!(
                "/02b-1280x1800@Europe.Berlin.scene-v{SCENE_VERSION}"
            )),
            "{scene}"
        );
        assert_eq!(SceneKey::parse(scene.as_str()).unwrap(), scene);
        assert_eq!(scene.window_path(), blob.window_path());
        assert!(BlobKey::parse(scene.as_str()).is_err());
        assert!(SceneKey::parse(blob.as_str()).is_err());
        let older = scene.as_str().replace(".scene-v", ".scene-v0");
        assert!(SceneKey::parse(&older).is_err(), "another version's key");
    }

    #[test]
    fn charts_in_other_time_zones_get_their_own_keys() {
        let blob = key(&AnalysisParams::default(), &Source::Sample, 42);
        let zone = TimeZone::parse("America/Argentina/Buenos_Aires").unwrap();
        let plot = blob.plot_key(PlotId::Overview, (1280, 720), ImageFormat::Svg, &zone);
        assert!(
            plot.as_str()
                .ends_with("/01-1280x720@America.Argentina.Buenos_Aires.svg"),
            "{plot}"
        );
        assert_eq!(PlotKey::parse(plot.as_str()).unwrap(), plot);
        assert_eq!(plot.format(), ImageFormat::Svg);
        let utc = blob.plot_key(
            PlotId::Overview,
            (1280, 720),
            ImageFormat::Svg,
            &TimeZone::utc(),
        );
        assert_ne!(plot, utc);
    }

    #[test]
    fn foreign_or_traversing_keys_are_rejected() {
        for bad in [
            "",
            "analysis/../../etc/passwd",
            "analysis/BTCUSDT/5m/1-2-0123456789abcdef.json",
            "analysis/btcusdt/5m/1-2-0123456789abcdef.msgpack",
            "analysis/BTCUSDT/7m/1-2-0123456789abcdef.msgpack",
            "analysis/BTCUSDT/5m/x/1-2-0123456789abcdef.msgpack",
            "analysis/BTCUSDT/5m/1-2-0123.msgpack",
        ] {
            assert!(BlobKey::parse(bad).is_err(), "{bad}");
        }
        for bad in [
            "plots/BTCUSDT/5m/1-2-0123456789abcdef/02b-1280x720.gif",
            "plots/BTCUSDT/5m/1-2-0123456789abcdef/09-1280x720.png",
            "plots/BTCUSDT/5m/1-2-0123456789abcdef/../02b-1x1.png",
            "plots/BTCUSDT/5m/1-2-0123456789abcdef/02b-axb.png",
            "plots/BTCUSDT/5m/1-2-0123456789abcdef/02b-1x1@Mars.Olympus.png",
            "plots/BTCUSDT/5m/1-2-0123456789abcdef/02b-1x1@...png",
            "plots/BTCUSDT/5m/1-2-0123456789abcdef/02b-1x1@.png",
            "analysis/BTCUSDT/5m/1-2-0123456789abcdef.msgpack",
        ] {
            assert!(PlotKey::parse(bad).is_err(), "{bad}");
        }
    }
}
