//! The parsing and validation of render requests from untrusted JSON, as the gateway
//! (`POST /api/render` bodies) and prepare (requests on the bus) do it, and of the
//! validated names inside them. Nothing may panic; a request that parses must encode and
//! decode back to itself, and a name that parses must parse again from its canonical
//! text to the same value (that text is what travels between the services).

#![no_main]

use std::fmt::{Debug, Display};

use libfuzzer_sys::fuzz_target;
use waveplot_gateway::routes::render::RenderBody;
use waveplot_protocol::{
    BlobKey, ImageFormat, Interval, Message, MraKind, ParseError, PlotId, PlotKey, RenderRequest,
    RequestId, Source, Symbol,
};
use waveplot_wavelet::{Mode, Wavelet};

/// A fixed "now" (2024-01-01 00:00 UTC), so that a crash reproduces.
const NOW_MS: i64 = 1_704_067_200_000;

/// What the services do with a decoded request before the analysis starts.
fn validate(request: &RenderRequest) {
    let Ok(()) = request.check(NOW_MS) else {
        return;
    };
    let params = request.params();
    let _ = Wavelet::new(params.wavelet.as_str());
    let _ = params.mode.as_str().parse::<Mode>();
    for plot in &request.plots {
        let (width, height) = request.size_of(*plot);
        assert!(width > 0 && height > 0, "an image has a size");
        assert!(
            u64::from(width) * u64::from(height) <= waveplot_protocol::request::MAX_PIXELS,
            "a checked request draws no picture over the pixel limit"
        );
    }
    let again = RenderRequest::decode(&request.encode())
        .unwrap_or_else(|e| panic!("a checked request does not decode from its encoding: {e}"));
    assert_eq!(&again, request, "a request changes on its way over the bus");
}

/// A name that parses must come back unchanged from its canonical text.
fn canonical<T: PartialEq + Debug + Display>(text: &str, parse: fn(&str) -> Result<T, ParseError>) {
    if let Ok(value) = parse(text) {
        assert_eq!(
            parse(&value.to_string()).as_ref(),
            Ok(&value),
            "the canonical text of {text:?} parses to something else"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = RenderRequest::decode(data) {
        validate(&request);
    }
    if let Ok(body) = serde_json::from_slice::<RenderBody>(data) {
        validate(&body.into_request());
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    canonical(text, Symbol::parse);
    canonical(text, Interval::parse);
    canonical(text, Source::parse);
    canonical(text, RequestId::parse);
    canonical(text, PlotId::parse);
    canonical(text, str::parse::<ImageFormat>);
    canonical(text, str::parse::<MraKind>);
    canonical(text, BlobKey::parse);
    canonical(text, PlotKey::parse);
    if let Ok(key) = PlotKey::parse(text) {
        let extension = key.as_str().rsplit_once('.').map(|(_, e)| e);
        assert_eq!(
            extension,
            Some(key.format().extension()),
            "a chart key's format is its extension"
        );
    }
});
