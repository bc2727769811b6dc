//! Every bus message's decoder on arbitrary bytes: the `accepted`, `prepared`, `done`
//! and `failed` events, the render reply, and the request-ID lookup used on messages too broken to
//! decode. A message that decodes must know its subject, encode, and decode back to
//! itself.

#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use waveplot_protocol::{
    AcceptedEvent, DoneEvent, FailedEvent, Message, PreparedEvent, RenderReply, RequestId,
    Subjects,
};

fn round_trip<M: Message + PartialEq + Debug>(data: &[u8], subjects: &Subjects) {
    let Ok(message) = M::decode(data) else {
        return;
    };
    message.subject(subjects);
    let again = M::decode(&message.encode())
        .unwrap_or_else(|e| panic!("a {} does not decode from its own encoding: {e}", M::NAME));
    assert_eq!(again, message, "a {} changes in a round trip", M::NAME);
}

fuzz_target!(|data: &[u8]| {
    let subjects = Subjects::default();
    round_trip::<AcceptedEvent>(data, &subjects);
    round_trip::<PreparedEvent>(data, &subjects);
    round_trip::<DoneEvent>(data, &subjects);
    round_trip::<FailedEvent>(data, &subjects);
    round_trip::<RenderReply>(data, &subjects);
    if let Some(id) = RequestId::find_in(data) {
        assert_eq!(RequestId::parse(id.as_str()).as_ref(), Ok(&id));
    }
});
