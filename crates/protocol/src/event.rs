//! Events: what the services announce on the bus, for each other and for any tool that
//! subscribes (`nats sub 'waveplot.>'`). JSON, `"v": 1`, every one carrying the
//! request ID. Heavy data never rides the bus: events carry object keys.

use serde::{Deserialize, Serialize};

use crate::blob::{Backend, Header};
use crate::id::RequestId;
use crate::interval::Interval;
use crate::key::{BlobKey, PlotKey};
use crate::message::{Message, V1};
use crate::plot::{ImageFormat, PlotId};
use crate::request::RenderRequest;
use crate::source::Source;
use crate::subject::{Stage, Subjects};
use crate::symbol::Symbol;
use crate::zone::TimeZone;

/// Where prepare's time went, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PrepareTimings {
    /// Loading the candles.
    pub load_ms: f64,
    /// The wavelet analysis.
    pub analysis_ms: f64,
    /// Encoding the blob when it is encoded apart from storing it; 0 when it is
    /// streamed to the store as it is encoded (prepare does so), its time then being
    /// part of `store_ms`.
    pub encode_ms: f64,
    /// Writing the blob to the store (with its encoding, when streamed).
    pub store_ms: f64,
    /// Recording the charts' scenes and storing them, side by side with storing the
    /// blob; 0 when there are none (a small window, SVG, a reused blob). Added within
    /// v1.
    #[serde(default)]
    pub scenes_ms: f64,
    /// From receiving the request to publishing this event.
    pub total_ms: f64,
}

/// `<prefix>.accepted.<SYMBOL>.<INTERVAL>`: prepare accepted a render request. It is
/// published, and kept by the event stream, before the request is answered, and
/// prepare works from it: a prepare that dies holding an accepted request leaves it to
/// another replica, or to itself restarted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AcceptedEvent {
    /// Schema version, always 1.
    pub v: V1,
    /// The request accepted.
    pub request_id: RequestId,
    /// When it was accepted, ms since the Unix epoch (UTC).
    pub accepted_ms: i64,
    /// The request as it was accepted.
    pub request: RenderRequest,
}

impl Message for AcceptedEvent {
    const NAME: &'static str = "accepted event";
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.accepted(&self.request.symbol, self.request.interval)
    }
    fn message_id(&self) -> String {
        format!("{}.accepted", self.request_id)
    }
}

/// `<prefix>.prepared.<SYMBOL>.<INTERVAL>`: the analysis blob of a request is in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PreparedEvent {
    /// Schema version, always 1.
    pub v: V1,
    /// The request this blob serves.
    pub request_id: RequestId,
    /// Trading pair.
    pub symbol: Symbol,
    /// Kline interval.
    pub interval: Interval,
    /// Where the candles came from.
    pub source: Source,
    /// Store key of the blob.
    pub key: BlobKey,
    /// Number of candles analysed.
    pub candles: u32,
    /// Open time (ms, UTC) of the first candle.
    pub first_open_ms: i64,
    /// Open time (ms, UTC) of the last candle.
    pub last_open_ms: i64,
    /// Compute backend that produced the analysis (`cpu` or `vulkan`).
    pub backend: Backend,
    /// The device the backend ran on (a CPU model or a GPU name).
    pub device: String,
    /// True when the blob already existed and was reused without recomputing.
    pub reused: bool,
    /// The charts requested; plotters of other plot IDs ignore the event.
    pub plots: Vec<PlotId>,
    /// Requested chart width in pixels, if not the chart's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Requested chart height in pixels, if not the chart's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Requested image format.
    #[serde(default)]
    pub format: ImageFormat,
    /// Requested time zone of the charts, if not UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<TimeZone>,
    /// Where the time went.
    pub timings_ms: PrepareTimings,
    /// The blob's header, with the window's summary: what a reader needs to describe the
    /// window without fetching the blob. Added within v1; older producers leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
    /// Present when the charts asked for have their scenes, the chart-ready form,
    /// stored at [`BlobKey::scene_key`] (prepare records them for PNG charts of large
    /// windows), all but those it names in [`Scenes::without`]; a plotter of the same
    /// scene version then replays its scene instead of reading the blob. Added within v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenes: Option<Scenes>,
}

/// The scenes prepare stored for the charts of a `prepared` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Scenes {
    /// Their [`SCENE_VERSION`](crate::scene::SCENE_VERSION): a plotter of another
    /// version draws its chart from the blob.
    pub version: u32,
    /// The size of the largest, in bytes: a plotter sets memory aside for it.
    pub largest_bytes: u64,
    /// The charts asked for that have no scene, because theirs could not be recorded
    /// within a scene's limits (a chart of many marks over a long window): their
    /// plotters draw them from the blob and set memory aside for that. Left out when
    /// empty. Added within v1: a plotter that does not know it looks for the scene,
    /// finds none, and draws from the blob if that fits in what it set aside.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub without: Vec<PlotId>,
}

impl Scenes {
    /// Whether chart `plot` has its scene stored.
    pub fn has(&self, plot: PlotId) -> bool {
        !self.without.contains(&plot)
    }
}

impl Message for PreparedEvent {
    const NAME: &'static str = "prepared event";
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.prepared(&self.symbol, self.interval)
    }
    fn message_id(&self) -> String {
        format!("{}.prepared", self.request_id)
    }
}

/// `<prefix>.done.<PLOT_ID>`: one chart of a request is in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DoneEvent {
    /// Schema version, always 1.
    pub v: V1,
    /// The request this chart serves.
    pub request_id: RequestId,
    /// Which chart.
    pub plot_id: PlotId,
    /// Store key of the image; the gateway serves it at `GET /plots/{key}`.
    pub key: PlotKey,
    /// Store key of the blob it was drawn from.
    pub blob_key: BlobKey,
    /// Image format.
    pub format: ImageFormat,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Size of the image in bytes.
    pub bytes: u64,
    /// Time to draw and encode the chart, ms.
    pub render_ms: f64,
    /// Time to fetch the blob and store the image, ms.
    pub store_ms: f64,
    /// True when the image already existed and was reused without drawing.
    pub reused: bool,
}

impl Message for DoneEvent {
    const NAME: &'static str = "done event";
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.done(self.plot_id)
    }
    fn message_id(&self) -> String {
        format!("{}.done.{}", self.request_id, self.plot_id)
    }
}

/// `<prefix>.failed.<STAGE>`: a stage failed for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FailedEvent {
    /// Schema version, always 1.
    pub v: V1,
    /// The request that failed; absent when the failing message was too malformed to name one.
    pub request_id: Option<RequestId>,
    /// The stage that failed.
    pub stage: Stage,
    /// The chart that failed, for the `plot` stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plot_id: Option<PlotId>,
    /// What went wrong, in words for a person (with what to do, where known).
    pub reason: String,
}

impl Message for FailedEvent {
    const NAME: &'static str = "failed event";
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.failed(self.stage)
    }
    /// `<request>.failed.<stage>[.<plot>]`; a failure that names no request is told
    /// apart by a digest of its content (the same failure again is a duplicate).
    fn message_id(&self) -> String {
        use sha2::Digest as _;
        let request = match &self.request_id {
            Some(id) => id.to_string(),
            None => {
                let digest = sha2::Sha256::digest(self.encode());
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("unnamed-{hex}")
            }
        };
        match self.plot_id {
            Some(plot) => format!("{request}.failed.{}.{plot}", self.stage),
            None => format!("{request}.failed.{}", self.stage),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeError;
    use crate::key::WindowId;
    use crate::request::AnalysisParams;

    fn blob_key() -> BlobKey {
        BlobKey::for_window(&WindowId {
            symbol: &Symbol::parse("ETH").unwrap(),
            interval: Interval::H1,
            source: &Source::Sample,
            end_open_ms: 1_700_000_000_000,
            candles: 720,
            params: &AnalysisParams::default(),
        })
    }

    fn prepared() -> PreparedEvent {
        PreparedEvent {
            v: V1,
            request_id: RequestId::generate(),
            symbol: Symbol::parse("ETH").unwrap(),
            interval: Interval::H1,
            source: Source::Sample,
            key: blob_key(),
            candles: 720,
            first_open_ms: 1_697_411_600_000,
            last_open_ms: 1_700_000_000_000,
            backend: Backend::Cpu,
            device: "x86_64".into(),
            reused: false,
            plots: PlotId::ALL.to_vec(),
            width: None,
            height: Some(900),
            format: ImageFormat::Png,
            tz: Some(TimeZone::parse("Europe/Berlin").unwrap()),
            timings_ms: PrepareTimings {
                load_ms: 1.5,
                total_ms: 4.0,
                ..PrepareTimings::default()
            },
            header: None,
            scenes: None,
        }
    }

    #[test]
    fn every_event_round_trips_and_knows_its_subject() {
        let s = Subjects::default();
        let p = prepared();
        assert_eq!(PreparedEvent::decode(&p.encode()).unwrap(), p);
        assert_eq!(p.subject(&s), "waveplot.prepared.ETHUSDT.1h");

        let d = DoneEvent {
            v: V1,
            request_id: p.request_id.clone(),
            plot_id: PlotId::Signals,
            key: p.key.plot_key(
                PlotId::Signals,
                (1280, 720),
                ImageFormat::Png,
                &TimeZone::utc(),
            ),
            blob_key: p.key.clone(),
            format: ImageFormat::Png,
            width: 1280,
            height: 720,
            bytes: 123_456,
            render_ms: 12.5,
            store_ms: 0.8,
            reused: false,
        };
        assert_eq!(DoneEvent::decode(&d.encode()).unwrap(), d);
        assert_eq!(d.subject(&s), "waveplot.done.04");

        let f = FailedEvent {
            v: V1,
            request_id: None,
            stage: Stage::Plot,
            plot_id: Some(PlotId::Bands),
            reason: "blob is corrupt".into(),
        };
        assert_eq!(FailedEvent::decode(&f.encode()).unwrap(), f);
        assert_eq!(f.subject(&s), "waveplot.failed.plot");
    }

    #[test]
    fn events_are_plain_json_with_the_documented_field_names() {
        let json: serde_json::Value = serde_json::from_slice(&prepared().encode()).unwrap();
        for field in [
            "v",
            "request_id",
            "symbol",
            "interval",
            "source",
            "key",
            "candles",
            "first_open_ms",
            "last_open_ms",
            "backend",
            "device",
            "reused",
            "plots",
            "height",
            "format",
            "timings_ms",
        ] {
            assert!(json.get(field).is_some(), "missing {field} in {json}");
        }
        assert_eq!(json["v"], 1);
        assert_eq!(json["symbol"], "ETHUSDT");
        assert_eq!(json["source"], "sample");
        assert!(json.get("width").is_none(), "absent options are left out");
    }

    #[test]
    fn a_message_larger_than_the_limit_is_refused_before_it_is_parsed() {
        let mut json: serde_json::Value = serde_json::from_slice(&prepared().encode()).unwrap();
        json["device"] = "x".repeat(crate::MAX_MESSAGE_BYTES).into();
        let e = PreparedEvent::decode(&serde_json::to_vec(&json).unwrap()).unwrap_err();
        assert!(matches!(e, DecodeError::TooLarge { .. }), "{e:?}");
        assert!(e.to_string().contains("at most 65536 bytes"), "{e}");
    }

    #[test]
    fn unknown_fields_are_ignored_so_minor_additions_stay_compatible() {
        let mut json: serde_json::Value = serde_json::from_slice(&prepared().encode()).unwrap();
        json["added_in_a_later_minor"] = serde_json::json!({"x": 1});
        let bytes = serde_json::to_vec(&json).unwrap();
        assert_eq!(
            PreparedEvent::decode(&bytes).unwrap(),
            prepared_with_id(&json)
        );
    }

    fn prepared_with_id(json: &serde_json::Value) -> PreparedEvent {
        PreparedEvent {
            request_id: RequestId::parse(json["request_id"].as_str().unwrap()).unwrap(),
            ..prepared()
        }
    }

    #[test]
    fn events_of_another_major_version_or_with_bad_keys_are_rejected() {
        let mut json: serde_json::Value = serde_json::from_slice(&prepared().encode()).unwrap();
        json["v"] = 2.into();
        let e = PreparedEvent::decode(&serde_json::to_vec(&json).unwrap()).unwrap_err();
        assert!(e.to_string().contains("\"v\": 2 is not supported"), "{e}");
        json["v"] = 1.into();
        json["key"] = "../../secret".into();
        let e = PreparedEvent::decode(&serde_json::to_vec(&json).unwrap()).unwrap_err();
        assert!(e.to_string().contains("invalid object key"), "{e}");
    }

    #[test]
    fn an_accepted_event_carries_the_request_on_its_window_s_subject() {
        let id = RequestId::generate();
        let json = format!(r#"{{"v":1,"request_id":"{id}","symbol":"ETH","interval":"1h"}}"#);
        let request = RenderRequest::decode(json.as_bytes()).unwrap();
        let event = AcceptedEvent {
            v: V1,
            request_id: id.clone(),
            accepted_ms: 1_700_000_000_000,
            request,
        };
        let s = Subjects::default();
        assert_eq!(event.subject(&s), "waveplot.accepted.ETHUSDT.1h");
        assert_eq!(event.message_id(), format!("{id}.accepted"));
        assert_eq!(AcceptedEvent::decode(&event.encode()).unwrap(), event);
    }

    #[test]
    fn message_ids_differ_between_messages_and_repeat_for_the_same_one() {
        let p = prepared();
        let id = &p.request_id;
        assert_eq!(p.message_id(), format!("{id}.prepared"));
        let failed = |stage, plot_id, reason: &str| FailedEvent {
            v: V1,
            request_id: Some(id.clone()),
            stage,
            plot_id,
            reason: reason.into(),
        };
        let ids = [
            failed(Stage::Prepare, None, "x").message_id(),
            failed(Stage::Plot, Some(PlotId::Bands), "x").message_id(),
            failed(Stage::Plot, Some(PlotId::Signals), "x").message_id(),
            failed(Stage::Gateway, Some(PlotId::Signals), "x").message_id(),
        ];
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
        assert_eq!(ids[1], format!("{id}.failed.plot.02b"));
        let unnamed = |reason: &str| FailedEvent {
            request_id: None,
            ..failed(Stage::Plot, Some(PlotId::Bands), reason)
        };
        assert_eq!(unnamed("a").message_id(), unnamed("a").message_id());
        assert_ne!(unnamed("a").message_id(), unnamed("b").message_id());
    }
}
