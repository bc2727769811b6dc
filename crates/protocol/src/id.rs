//! `RequestId`: the identifier every event of one render carries.
//!
//! The gateway mints time-ordered UUIDv7s in simple (hex) form; other tools may send
//! their own IDs, so parsing accepts any short token that is safe in a URL path, a NATS
//! header and a log line.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// Longest accepted request ID.
const MAX_LEN: usize = 64;

/// The ID of one render request, or of one watch ([`crate::live::WatchRequest`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

impl RequestId {
    /// A new, unique, time-ordered ID.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().simple().to_string())
    }

    /// Parses an ID: 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let ok = (1..=MAX_LEN).contains(&input.len())
            && input
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(ParseError::RequestId {
                input: input.to_owned(),
            })
        }
    }

    /// The `request_id` of a JSON message that failed to decode as a whole, if it
    /// has a valid one, so that the failure can still be reported for that request.
    pub fn find_in(payload: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
        Self::parse(value.get("request_id")?.as_str()?).ok()
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

crate::parse_impls!(RequestId);

impl From<RequestId> for String {
    fn from(id: RequestId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_valid_and_time_ordered() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert!(a < b, "UUIDv7 sorts by creation time: {a} {b}");
        assert_eq!(RequestId::parse(a.as_str()).unwrap(), a);
        assert_eq!(a.as_str().len(), 32);
    }

    #[test]
    fn the_id_of_a_broken_message_is_found_when_it_is_valid() {
        let id = RequestId::find_in(br#"{"v":9,"request_id":"abc","x":[1,2"#);
        assert_eq!(id, None, "not JSON at all");
        let id = RequestId::find_in(br#"{"v":9,"request_id":"abc","symbol":7}"#);
        assert_eq!(id.unwrap().as_str(), "abc");
        assert_eq!(RequestId::find_in(br#"{"request_id":"a b"}"#), None);
        assert_eq!(RequestId::find_in(br#"[1]"#), None);
    }

    #[test]
    fn unsafe_ids_are_rejected() {
        for bad in ["", "a b", "a/b", "a.b", "é", &"x".repeat(65)] {
            let e = RequestId::parse(bad).unwrap_err().to_string();
            assert!(e.contains("1 to 64 characters"), "{e}");
        }
        assert!(RequestId::parse("my-tool_42").is_ok());
    }
}
