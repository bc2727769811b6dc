//! The analysis blob's decoders on arbitrary bytes. They must answer with a blob or an
//! error, never panic or allocate more than the input justifies; a blob the whole
//! decoder accepts must encode again, and that encoding must decode to a blob with the
//! very same bytes. The section index found at the end of the bytes, if any, must
//! read as a plotter reads it, ranges and all, without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use waveplot_protocol::Blob;
use waveplot_protocol::blob::{Index, Parts};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(index)) = Index::from_tail(data, data.len() as u64) {
        let _ = Blob::decode_sections(
            &index,
            |_| Ok(Parts::all()),
            |r| Ok(&data[r.start as usize..r.end as usize]),
        );
    }
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
