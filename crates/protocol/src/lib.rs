//! The waveplot wire contract: what the gateway, prepare, the plotters and any other
//! tool exchange. Depend on this crate to talk to waveplot from Rust; other languages
//! read the same JSON events and MessagePack blob, documented field by field here and
//! in the README.
//!
//! # Layout
//!
//! - [`symbol`], [`interval`], [`plot`], [`source`], [`id`]: validated names
//!   (`Symbol`, `Interval`, `PlotId`, `ImageFormat`, `Source`, `RequestId`); past the
//!   edge of a service, code only sees valid values.
//! - [`wavelet`]: the wavelet and the extension mode of an analysis, in canonical form.
//! - [`zone`]: the time zone charts write times in (IANA names, database built in).
//! - [`key`]: content-addressed object keys of blobs and charts.
//! - [`subject`]: NATS subject names under a configurable prefix.
//! - [`message`]: the `"v"` schema version and the [`Message`] trait (subject + codec).
//! - [`request`]: the render request, its defaults and its accept/reject reply.
//! - [`event`]: the `prepared`, `done` and `failed` events.
//! - [`live`]: watches and the market events of watched pairs (price, candle, anomaly,
//!   signal).
//! - [`blob`]: the MessagePack analysis blob and its versioned codec.
//! - [`scene`]: the chart-ready form of a PNG chart, drawing operations in pixels.
//! - [`error`]: parse and decode errors.
//! - [`schema`], [`asyncapi`]: JSON Schemas of the messages and the AsyncAPI document
//!   of the subjects, for tools in other languages.

/// `FromStr` and `TryFrom<String>` (what serde's `try_from` uses) for a validated type,
/// both through its own `parse`, so a flag, a JSON field and a URL segment are checked alike.
macro_rules! parse_impls {
    ($t:ty) => {
        impl std::str::FromStr for $t {
            type Err = $crate::error::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = $crate::error::ParseError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }
    };
}
pub(crate) use parse_impls;

pub mod asyncapi;
pub mod blob;
pub mod error;
pub mod event;
pub mod id;
pub mod interval;
pub mod key;
pub mod live;
pub mod message;
pub mod plot;
pub mod request;
pub mod scene;
pub mod schema;
pub mod source;
pub mod subject;
pub mod symbol;
pub mod wavelet;
pub mod zone;

pub use blob::Blob;
pub use error::{BlobError, DecodeError, ParseError};
pub use event::{AcceptedEvent, DoneEvent, FailedEvent, PrepareTimings, PreparedEvent, Scenes};
pub use id::RequestId;
pub use interval::Interval;
pub use key::{BlobKey, PlotKey, SceneKey, WindowId};
pub use live::{
    AnomalyEvent, CandleEvent, Kline, LiveWindow, PriceEvent, SignalEvent, WatchReply, WatchRequest,
};
pub use message::{MAX_MESSAGE_BYTES, Message, V1};
pub use plot::{ImageFormat, PlotId};
pub use request::{AnalysisParams, MraKind, RenderReply, RenderRequest};
pub use scene::Scene;
pub use source::Source;
pub use subject::{Market, Stage, SubjectKind, Subjects};
pub use symbol::Symbol;
pub use wavelet::{Mode, Wavelet};
pub use zone::TimeZone;
