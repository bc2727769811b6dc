//! JSON Schemas (draft 2020-12) of the contract's types, for tools in other languages:
//! the structs derive theirs from the same serde attributes that shape their JSON, and
//! the validated names below describe their spelling. The AsyncAPI document
//! ([`crate::asyncapi`]) carries one schema per message.
//!
//! A name has two schemas, by the generator's [`Contract`]. For what waveplot writes
//! (`Serialize`) it is the canonical spelling, so every message waveplot sends
//! validates. For what a reader takes (`Deserialize`) it is every spelling the parser
//! reads (it trims, ignores case and respells: `"Haar "` is `haar`, `BTC` is `BTCUSDT`),
//! so a value outside the schema is always refused. What a pattern cannot say is checked
//! when a request is worked on: a wavelet the analysis does not know, a symbol Binance
//! does not list, a base too long for its quote.

use std::borrow::Cow;

use schemars::generate::Contract;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::blob::Backend;
use crate::id::RequestId;
use crate::interval::Interval;
use crate::key::{BlobKey, PlotKey};
use crate::message::V1;
use crate::plot::PlotId;
use crate::source::Source;
use crate::symbol::{DEFAULT_QUOTE, QUOTES, Symbol};
use crate::wavelet::{Mode, Wavelet};
use crate::zone::TimeZone;

/// Generates a self-contained schema (its own `$defs`) of `T` as written
/// (`Contract::Serialize`) or as read (`Contract::Deserialize`).
pub fn schema_of<T: JsonSchema>(contract: Contract) -> Schema {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.contract = contract;
    settings.into_generator().into_root_schema_for::<T>()
}

/// `JsonSchema` for a validated name: its schema name, the schema of its canonical
/// text, and optionally that of every text its parser reads.
macro_rules! name_schema {
    ($t:ty, $name:literal, $schema:expr) => {
        name_schema!($t, $name, $schema, $schema);
    };
    ($t:ty, $name:literal, $written:expr, $read:expr) => {
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                if generator.contract().is_serialize() {
                    $written
                } else {
                    $read
                }
            }
        }
    };
}

/// `word` in any ASCII case, as a regular expression.
fn caseless(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else {
                regex_escape(c)
            }
        })
        .collect()
}

/// `c` as a literal in a regular expression.
fn regex_escape(c: char) -> String {
    if "\\.+*?()|[]{}^$".contains(c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

/// A string that is one of `names`.
fn one_of(names: &[&str], description: &str) -> Schema {
    json_schema!({ "description": description, "type": "string", "enum": names })
}

/// A string that is one of `alternatives` (regular expressions), with spaces around it.
fn spaced(alternatives: &[String], description: &str) -> Schema {
    let pattern = format!("^\\s*({})\\s*$", alternatives.join("|"));
    json_schema!({ "description": description, "type": "string", "pattern": pattern })
}

name_schema!(
    V1,
    "SchemaVersion",
    json_schema!({
        "description": "The schema version of the message: always 1 in this version of the contract.",
        "const": 1
    })
);

name_schema!(
    RequestId,
    "RequestId",
    json_schema!({
        "description": "A render's ID: 1 to 64 letters, digits, '_' or '-'.",
        "type": "string",
        "pattern": "^[A-Za-z0-9_-]{1,64}$"
    })
);

/// A canonical symbol, unanchored: a base and a quote asset waveplot knows (a base of
/// one character or more before `USDT`, two or more before the others).
fn symbol_pattern() -> String {
    let others: Vec<&str> = QUOTES
        .iter()
        .copied()
        .filter(|q| *q != DEFAULT_QUOTE)
        .collect();
    format!(
        "([A-Z0-9]+{DEFAULT_QUOTE}|[A-Z0-9]{{2,}}({}))",
        others.join("|")
    )
}

/// The canonical intervals, as a regular expression's alternatives.
fn interval_pattern() -> String {
    Interval::ALL.map(Interval::as_str).join("|")
}

/// `<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>`, the window part of both keys.
fn window_pattern() -> String {
    format!(
        "{}/({})/[0-9]+-[0-9]+-[0-9a-f]{{16}}",
        symbol_pattern(),
        interval_pattern()
    )
}

name_schema!(
    Symbol,
    "Symbol",
    {
        let pattern = format!("^{}$", symbol_pattern());
        json_schema!({
            "description": "A trading pair in Binance's spelling, e.g. BTCUSDT: a base asset and a quote asset waveplot knows.",
            "type": "string",
            "minLength": 5,
            "maxLength": 20,
            "pattern": pattern,
            "examples": ["BTCUSDT"]
        })
    },
    spaced(
        &["[A-Za-z0-9/_-]+".to_owned()],
        "A trading pair, e.g. BTCUSDT, btc/usdt or BTC-USDT, or a base asset alone, which means the base against USDT (written as BTCUSDT).",
    )
);

name_schema!(
    Interval,
    "Interval",
    one_of(
        &Interval::ALL.map(Interval::as_str),
        "A Binance kline interval."
    ),
    {
        // Seconds, hours, days and weeks may be written in capitals (1H); 1m and 1M differ.
        let names: Vec<String> = Interval::ALL
            .map(|i| {
                let name = i.as_str();
                let (n, unit) = name.split_at(name.len() - 1);
                match unit {
                    "s" | "h" | "d" | "w" => format!("{n}{}", caseless(unit)),
                    _ => name.to_owned(),
                }
            })
            .to_vec();
        spaced(
            &names,
            "A Binance kline interval (written as 1s, 1m, ..., 1M).",
        )
    }
);

name_schema!(
    PlotId,
    "PlotId",
    one_of(&PlotId::ALL.map(PlotId::as_str), "One of the six charts."),
    {
        // "1" and "2b" shorten "01" and "02b".
        let names: Vec<String> = PlotId::ALL
            .map(|p| format!("0?{}", caseless(&p.as_str()[1..])))
            .to_vec();
        spaced(
            &names,
            "One of the six charts (written as 01, 02a, 02b, 03, 04, 05).",
        )
    }
);

name_schema!(
    Source,
    "Source",
    json_schema!({
        "description": "Where the candles come from: binance (the exchange's REST API), sample (the bundled samples) or file:NAME (a klines file in the candle directory; NAME has 1 to 128 letters, digits, '.', '_' or '-', and no leading dot).",
        "type": "string",
        "pattern": "^(binance|sample|file:[A-Za-z0-9_-][A-Za-z0-9._-]{0,127})$"
    }),
    spaced(
        &[
            caseless("binance"),
            caseless("sample"),
            "file:[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}".to_owned(),
        ],
        "Where the candles come from: binance, sample or file:NAME (written in lower case).",
    )
);

name_schema!(
    Wavelet,
    "Wavelet",
    json_schema!({
        "description": "A wavelet's name in PyWavelets' spelling, lower case: the analysis knows haar, db1-db38, sym2-sym20 and coif1-coif17, and refuses others when it is asked.",
        "type": "string",
        "pattern": "^[a-z][a-z0-9]{0,15}$",
        "examples": ["haar", "db4", "sym5", "coif3"]
    }),
    spaced(
        &["[A-Za-z][A-Za-z0-9]{0,15}".to_owned()],
        "A wavelet's name in any case: haar, db1-db38, sym2-sym20 or coif1-coif17 (written in lower case).",
    )
);

name_schema!(
    Mode,
    "Mode",
    one_of(
        &Mode::ALL.map(Mode::as_str),
        "A signal extension mode in PyWavelets' spelling."
    ),
    {
        let names: Vec<String> = Mode::ALL.map(|m| caseless(m.as_str())).to_vec();
        spaced(
            &names,
            "A signal extension mode in any case (written in lower case).",
        )
    }
);

name_schema!(
    TimeZone,
    "TimeZone",
    json_schema!({
        "description": "An IANA time zone in the database's spelling, e.g. UTC or Europe/Berlin (a name the database does not know is refused).",
        "type": "string",
        "maxLength": 32,
        "pattern": "^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$",
        "examples": ["UTC", "Europe/Berlin"]
    }),
    spaced(
        &["[A-Za-z0-9/_+-]{1,32}".to_owned()],
        "An IANA time zone in any ASCII case, e.g. europe/berlin (written in the database's spelling, Europe/Berlin).",
    )
);

name_schema!(
    Backend,
    "Backend",
    json_schema!({
        "description": "The compute backend of an analysis: the f64 CPU reference or the Vulkan pass.",
        "type": "string",
        "enum": ["cpu", "vulkan"]
    })
);

name_schema!(BlobKey, "BlobKey", {
    let pattern = format!("^analysis/{}\\.msgpack$", window_pattern());
    json_schema!({
        "description": "The store key of an analysis blob: analysis/<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>.msgpack.",
        "type": "string",
        "pattern": pattern
    })
});

name_schema!(PlotKey, "PlotKey", {
    let plots = PlotId::ALL.map(PlotId::as_str).join("|");
    let pattern = format!(
        "^plots/{}/({plots})-[0-9]+x[0-9]+(@[A-Za-z0-9_+-]+(\\.[A-Za-z0-9_+-]+)*)?\\.(png|svg)$",
        window_pattern()
    );
    json_schema!({
        "description": "The store key of a chart: plots/<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>/<PLOT>-<W>x<H>[@<ZONE>].<png|svg>, the zone's slashes written as dots; the gateway serves it at GET /plots/{key}.",
        "type": "string",
        "pattern": pattern
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::WindowId;
    use crate::plot::ImageFormat;
    use crate::request::AnalysisParams;

    /// Whether `value` matches the pattern of `T`'s schema as written.
    fn fits<T: JsonSchema>(value: &str) -> bool {
        matches::<T>(Contract::Serialize, value)
    }

    /// Whether `value` matches the pattern of `T`'s schema under `contract`.
    fn matches<T: JsonSchema>(contract: Contract, value: &str) -> bool {
        let schema = schema_of::<T>(contract);
        let pattern = schema.get("pattern").and_then(|p| p.as_str()).unwrap();
        regex::Regex::new(pattern).unwrap().is_match(value)
    }

    /// Each spelling fits the schema as read exactly when the parser reads it (apart
    /// from what a pattern cannot say, which none of these is).
    #[test]
    fn the_schemas_as_read_take_what_the_parsers_read() {
        fn check<T: JsonSchema + std::str::FromStr>(inputs: &[&str]) {
            for input in inputs {
                let read = input.parse::<T>().is_ok();
                assert_eq!(
                    matches::<T>(Contract::Deserialize, input),
                    read,
                    "{input:?}"
                );
            }
        }
        check::<Symbol>(&["btc", " BTC-USDT ", "eth/btc", "B$C", "", "BT C"]);
        check::<Interval>(&["5m", "1H", " 1d ", "1M", "7m", "1 m", "5M"]);
        check::<PlotId>(&["01", "1", "2B", " 02a", "6", "07", "2c"]);
        check::<Source>(&[
            "binance",
            " Sample ",
            "file:x.csv",
            "file:.x",
            "BINANCE",
            "s3",
        ]);
        check::<Wavelet>(&["haar", " Haar ", "DB4", "4db", "db-4"]);
        check::<Mode>(&["symmetric", "Periodization ", "sym", "zero1"]);
        check::<TimeZone>(&["UTC", "europe/berlin", "Etc/GMT+5", "Mars Base", "a.b"]);
    }

    #[test]
    fn a_symbol_fits_its_pattern_exactly_when_it_is_canonical() {
        for s in [
            "BTCUSDT",
            "ETHBTC",
            "1INCHUSDT",
            "XUSDT",
            "SOLFDUSD",
            "BTC",
            "eth/btc",
            "B",
            "ABCDEFGHIJKLMNOPQ",
        ] {
            let canonical = Symbol::parse(s).is_ok_and(|c| c.as_str() == s);
            assert_eq!(fits::<Symbol>(s), canonical, "{s}");
        }
    }

    #[test]
    fn keys_of_every_interval_chart_and_zone_fit_their_patterns() {
        let symbol = Symbol::parse("ETHBTC").unwrap();
        let source = Source::Sample;
        let params = AnalysisParams::default();
        for interval in Interval::ALL {
            let blob = BlobKey::for_window(&WindowId {
                symbol: &symbol,
                interval,
                source: &source,
                params: &params,
                end_open_ms: 1_660_608_000_000,
                candles: 864,
            });
            assert!(fits::<BlobKey>(blob.as_str()), "{blob}");
            for plot in PlotId::ALL {
                for zone in ["UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5"] {
                    let zone = TimeZone::parse(zone).unwrap();
                    let key = blob.plot_key(plot, (1280, 720), ImageFormat::Svg, &zone);
                    assert!(fits::<PlotKey>(key.as_str()), "{key}");
                }
            }
        }
        let wrong = "plots/BTCUSDT/7m/1-2-0123456789abcdef/01-1280x720.png";
        assert!(!fits::<PlotKey>(wrong) && PlotKey::parse(wrong).is_err());
        let negative = "analysis/BTCUSDT/5m/-1-2-0123456789abcdef.msgpack";
        assert!(!fits::<BlobKey>(negative) && BlobKey::parse(negative).is_err());
    }
}
