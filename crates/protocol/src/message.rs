//! The JSON envelope shared by requests, replies and events: the `"v"` schema version
//! and the [`Message`] trait that ties each type to its subject and its codec.
//!
//! Within a major version, fields are only ever added (readers ignore fields they do not
//! know), so a tool written against `"v": 1` keeps working as waveplot grows. A reader
//! given another major version fails with a clear error instead of misreading it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::DecodeError;
use crate::subject::Subjects;

/// The largest message of the contract, in bytes. The largest real one, a `prepared`
/// event with its header and 20 band statistics, is about 8 KiB; a reader refuses
/// anything larger before parsing it.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The `"v"` field of every JSON message: always `1` in this version of the contract.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct V1;

impl Serialize for V1 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for V1 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            1 => Ok(Self),
            other => Err(serde::de::Error::custom(format!(
                "schema version \"v\": {other} is not supported (this build reads \"v\": 1)"
            ))),
        }
    }
}

/// A JSON message of the contract: it knows its subject and how to encode itself.
pub trait Message: Serialize + DeserializeOwned {
    /// The message's name in error messages (`render request`, `done event`).
    const NAME: &'static str;

    /// The subject this message is published on.
    fn subject(&self, subjects: &Subjects) -> String;

    /// The message's ID, sent as the `Nats-Msg-Id` header: the same for a retry of the
    /// same message and different for any other, so a JetStream stream (or any reader)
    /// can drop duplicates. Built from the request ID and what the message says of it.
    fn message_id(&self) -> String;

    /// The JSON bytes of this message.
    fn encode(&self) -> Vec<u8> {
        // Every message type is plain data with string keys, which JSON always represents.
        serde_json::to_vec(self).expect("contract messages always serialize to JSON")
    }

    /// Parses and validates a message; any bad field or version, or more than
    /// [`MAX_MESSAGE_BYTES`], is an error, never a panic.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::TooLarge {
                what: Self::NAME,
                bytes: bytes.len(),
                limit: MAX_MESSAGE_BYTES,
            });
        }
        serde_json::from_slice(bytes).map_err(|source| DecodeError::Json {
            what: Self::NAME,
            source,
        })
    }
}
