//! Errors of the wire contract: a value that does not parse, and a message or blob
//! that does not decode. Every message says what was wrong and what is valid, because
//! these errors travel back to the person who typed the value.

use thiserror::Error;

/// A value given from outside (a flag, a JSON field, a URL segment) is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The symbol is empty, too long or has characters other than letters and digits.
    #[error(
        "invalid symbol '{input}': {reason}; use a Binance spot symbol such as BTCUSDT, ETHBTC or BTC (= BTCUSDT)"
    )]
    Symbol {
        /// What was given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The interval is not one of Binance's kline intervals.
    #[error("invalid interval '{input}'; valid intervals: {valid}")]
    Interval {
        /// What was given.
        input: String,
        /// The valid intervals, comma-separated.
        valid: String,
    },
    /// The plot ID is not one of the six charts.
    #[error("invalid plot ID '{input}'; valid plot IDs: {valid}")]
    PlotId {
        /// What was given.
        input: String,
        /// The valid plot IDs, comma-separated.
        valid: String,
    },
    /// The image format is neither png nor svg.
    #[error("invalid image format '{input}'; valid formats: png, svg")]
    ImageFormat {
        /// What was given.
        input: String,
    },
    /// The candle source is not `binance`, `sample` or `file:NAME` with a plain file name.
    #[error(
        "invalid source '{input}': {reason}; valid sources: binance, sample, file:NAME (a file name in the operator's candle directory)"
    )]
    Source {
        /// What was given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The wavelet name is empty, too long or not a letter followed by letters and digits.
    #[error("invalid wavelet '{input}': {reason}; use a name such as haar, db4, sym5 or coif3")]
    Wavelet {
        /// What was given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signal extension mode is not one of PyWavelets' modes.
    #[error("invalid mode '{input}'; valid modes: {valid}")]
    Mode {
        /// What was given.
        input: String,
        /// The valid modes, comma-separated.
        valid: String,
    },
    /// The MRA kind is neither modwt nor dwt.
    #[error("invalid MRA kind '{input}'; valid kinds: modwt, dwt")]
    MraKind {
        /// What was given.
        input: String,
    },
    /// The request ID is empty, too long or has characters outside `[A-Za-z0-9_-]`.
    #[error("invalid request ID '{input}'; use 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")]
    RequestId {
        /// What was given.
        input: String,
    },
    /// The object key does not have the form of a waveplot blob or plot key.
    #[error("invalid object key '{input}': {reason}")]
    Key {
        /// What was given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A numeric or optional field of a render request is out of range.
    #[error("invalid {field}: {reason}")]
    Field {
        /// The field's name as in the JSON request.
        field: &'static str,
        /// What is wrong and what is valid.
        reason: String,
    },
    /// The time zone is not an IANA time-zone name.
    #[error(
        "invalid time zone '{input}'; use an IANA time-zone name such as UTC, Europe/Berlin, America/New_York or Asia/Singapore"
    )]
    TimeZone {
        /// What was given.
        input: String,
    },
    /// The subject prefix is not a valid sequence of NATS subject tokens.
    #[error(
        "invalid subject prefix '{input}'; use dot-separated tokens of A-Z, a-z, 0-9, '_' and '-', such as 'waveplot' or 'lab.waveplot'"
    )]
    SubjectPrefix {
        /// What was given.
        input: String,
    },
}

/// A JSON event, request or reply could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The bytes are not the JSON this message type expects (a field is missing, a value
    /// is invalid, or the schema version is not one this build reads).
    #[error("malformed {what} message: {source}")]
    Json {
        /// The message type that was expected.
        what: &'static str,
        /// The underlying JSON error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The message is larger than any message of the contract may be.
    #[error("{what} message of {bytes} bytes refused: messages are at most {limit} bytes")]
    TooLarge {
        /// The message type that was expected.
        what: &'static str,
        /// The message's size.
        bytes: usize,
        /// [`MAX_MESSAGE_BYTES`](crate::message::MAX_MESSAGE_BYTES).
        limit: usize,
    },
}

/// A blob could not be decoded.
#[derive(Debug, Error)]
pub enum BlobError {
    /// The bytes do not start with the waveplot blob magic: this is not a waveplot blob.
    #[error("not a waveplot blob (the magic bytes are missing or wrong)")]
    BadMagic,
    /// The blob was written with a schema major version this build cannot read.
    #[error(
        "blob schema version {major}.{minor} is not supported (this build reads {supported}.x); upgrade the reader or re-run the analysis"
    )]
    UnsupportedVersion {
        /// The blob's major version.
        major: u16,
        /// The blob's minor version.
        minor: u16,
        /// The major version this build reads.
        supported: u16,
    },
    /// The blob is truncated or its structure is not the documented one.
    #[error("malformed blob: {what}")]
    Malformed {
        /// Which part is malformed.
        what: &'static str,
        /// The MessagePack decoder's error, where it found one.
        #[source]
        source: Option<rmp_serde::decode::Error>,
    },
    /// The blob decoded, but its arrays disagree with each other (e.g. a series whose length is not the candle count).
    #[error("inconsistent blob: {0}")]
    Inconsistent(String),
    /// The reader the blob was streamed from failed (the store, the network).
    #[error("could not read the blob: {0}")]
    Read(#[source] std::io::Error),
    /// Encoding failed (only possible for values that MessagePack cannot represent).
    #[error("could not encode blob: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
}

/// A scene ([`Scene`](crate::scene::Scene)) could not be encoded or decoded.
#[derive(Debug, Error)]
pub enum SceneError {
    /// The scene is larger than a reader accepts.
    #[error("the scene is {bytes} bytes; a scene may be at most {max}")]
    TooLarge {
        /// Its size.
        bytes: u64,
        /// [`MAX_SCENE_BYTES`](crate::scene::MAX_SCENE_BYTES).
        max: u64,
    },
    /// The scene was written by a build of another scene version.
    #[error("scene version {found} is not the version {supported} this build draws")]
    Version {
        /// The scene's version.
        found: u32,
        /// [`SCENE_VERSION`](crate::scene::SCENE_VERSION).
        supported: u32,
    },
    /// The bytes are not a scene.
    #[error("malformed scene: {what}")]
    Malformed {
        /// Which part is malformed.
        what: &'static str,
        /// The MessagePack decoder's error, where it found one.
        #[source]
        source: Option<rmp_serde::decode::Error>,
    },
    /// The scene decoded but cannot be drawn in bounded time.
    #[error("the scene cannot be drawn: {0}")]
    Invalid(String),
    /// Encoding failed (only possible for values that MessagePack cannot represent).
    #[error("could not encode the scene: {0}")]
    Encode(#[source] rmp_serde::encode::Error),
}
