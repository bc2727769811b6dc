//! Inputs the fuzz targets of `fuzz/` found, kept as regression tests: each once broke
//! a promise of the wire contract.

use waveplot_protocol::{
    ImageFormat, Interval, Message, PlotKey, RenderRequest, RequestId, Symbol,
};

/// A symbol that parses must parse again from its canonical text to itself, since that
/// text is what the gateway sends to prepare.
fn assert_canonical(input: &str) {
    if let Ok(symbol) = Symbol::parse(input) {
        assert_eq!(
            Symbol::parse(symbol.as_str()).as_ref(),
            Ok(&symbol),
            "{input:?}"
        );
    }
}

/// Found by the `request` target: `btc-du` became `BTCDU`, which the next parse read as
/// the bare asset `BTCDU` and turned into `BTCDUUSDT`.
#[test]
fn a_pair_with_a_separator_and_an_unknown_quote_is_refused_not_renamed() {
    assert_canonical("btc-du");
    assert!(Symbol::parse("btc-du").is_err());
    for input in [
        "T",
        "t/usdt",
        "eth/btc",
        "WBTC",
        "1000SATS",
        "ABCDEFGHIJKLMNOP",
    ] {
        assert_canonical(input);
    }
}

/// The same input as a whole render request: the request prepare decodes is the one
/// the gateway encoded.
#[test]
fn a_render_request_survives_the_hop_to_prepare() {
    for symbol in ["T", "eth/btc", "sol"] {
        let request = RenderRequest::new(
            RequestId::parse("r1").unwrap(),
            Symbol::parse(symbol).unwrap(),
            Interval::M5,
        );
        assert_eq!(
            RenderRequest::decode(&request.encode()).unwrap(),
            request,
            "{symbol}"
        );
    }
    let json = br#"{"v":1,"request_id":"r1","symbol":"btc-du","interval":"5m"}"#;
    let e = RenderRequest::decode(json).unwrap_err().to_string();
    assert!(e.contains("invalid symbol 'btc-du'"), "{e}");
}

/// Seen while writing the `request` target, which checks it: a chart key ending in
/// `.SVG` parsed, but its format read as PNG (from a case-sensitive extension check).
#[test]
fn a_chart_key_has_exactly_the_extension_of_its_format() {
    let key = "plots/ETHUSDT/1h/1700000000000-720-0123456789abcdef/02b-1280x1800";
    assert_eq!(
        PlotKey::parse(&format!("{key}.svg")).unwrap().format(),
        ImageFormat::Svg
    );
    for bad in ["SVG", "Png", " svg"] {
        assert!(PlotKey::parse(&format!("{key}.{bad}")).is_err(), "{bad}");
    }
}
