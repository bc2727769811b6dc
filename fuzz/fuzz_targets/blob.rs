//! The analysis blob's decoder on arbitrary bytes. It must answer with a blob or an
//! error, never panic or allocate more than the input justifies; a blob it accepts must
//! encode again, and that encoding must decode to a blob with the very same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use waveplot_protocol::Blob;

fuzz_target!(|data: &[u8]| {
    let Ok(blob) = Blob::decode(data) else {
        return;
    };
    let bytes = blob.encode().expect("a decoded blob encodes");
    let again = Blob::decode(&bytes)
        .unwrap_or_else(|e| panic!("the encoding of a decoded blob does not decode: {e}"));
    // Bytes, not `==`: a NaN in a series is a valid value that never equals itself.
    let bytes_again = again.encode().expect("a decoded blob encodes");
    assert!(
        bytes_again == bytes,
        "re-encoding a decoded blob changes it"
    );
});
