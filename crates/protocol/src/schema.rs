//! JSON Schemas (draft 2020-12) of the contract's types, for tools in other languages:
//! the structs derive theirs from the same serde attributes that shape their JSON, and
//! the validated names below describe their canonical form. The AsyncAPI document
//! ([`crate::asyncapi`]) carries one schema per message.
//!
//! A name's schema states what waveplot writes: readers here are more lenient (they
//! trim, ignore case and respell, e.g. `"Haar "` is read as `haar`), so a message that
//! validates is always read, and every message waveplot sends validates.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::blob::Backend;
use crate::id::RequestId;
use crate::interval::Interval;
use crate::key::{BlobKey, PlotKey};
use crate::message::V1;
use crate::plot::PlotId;
use crate::source::Source;
use crate::symbol::Symbol;
use crate::wavelet::{Mode, Wavelet};
use crate::zone::TimeZone;

/// Generates a self-contained schema (its own `$defs`) of `T`.
pub fn schema_of<T: JsonSchema>() -> Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
}

/// `JsonSchema` for a validated name: its schema name and the schema of its text.
macro_rules! name_schema {
    ($t:ty, $name:literal, $schema:expr) => {
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
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

name_schema!(
    Symbol,
    "Symbol",
    json_schema!({
        "description": "A trading pair in Binance's spelling, e.g. BTCUSDT (readers also take btc/usdt, BTC-USDT, or a base alone, which means the base against USDT).",
        "type": "string",
        "pattern": "^[A-Z0-9]{2,20}$",
        "examples": ["BTCUSDT"]
    })
);

name_schema!(Interval, "Interval", {
    let names: Vec<&str> = Interval::ALL.map(Interval::as_str).to_vec();
    json_schema!({
        "description": "A Binance kline interval.",
        "type": "string",
        "enum": names
    })
});

name_schema!(PlotId, "PlotId", {
    let names: Vec<&str> = PlotId::ALL.map(PlotId::as_str).to_vec();
    json_schema!({
        "description": "One of the six charts.",
        "type": "string",
        "enum": names
    })
});

name_schema!(
    Source,
    "Source",
    json_schema!({
        "description": "Where the candles come from: binance (the exchange's REST API), sample (the bundled samples) or file:NAME (a klines file in the candle directory; NAME has 1 to 128 letters, digits, '.', '_' or '-', and no leading dot).",
        "type": "string",
        "pattern": "^(binance|sample|file:[A-Za-z0-9_-][A-Za-z0-9._-]{0,127})$"
    })
);

name_schema!(
    Wavelet,
    "Wavelet",
    json_schema!({
        "description": "A wavelet in PyWavelets' spelling: haar, db1-db38, sym2-sym20 or coif1-coif17 (readers ignore case and surrounding spaces).",
        "type": "string",
        "pattern": "^(haar|db([1-9]|[12][0-9]|3[0-8])|sym([2-9]|1[0-9]|20)|coif([1-9]|1[0-7]))$",
        "examples": ["haar", "db4"]
    })
);

name_schema!(Mode, "Mode", {
    let names: Vec<&str> = Mode::ALL.map(Mode::as_str).to_vec();
    json_schema!({
        "description": "A signal extension mode in PyWavelets' spelling (readers ignore case and surrounding spaces).",
        "type": "string",
        "enum": names
    })
});

name_schema!(
    TimeZone,
    "TimeZone",
    json_schema!({
        "description": "An IANA time zone in the database's spelling, e.g. UTC or Europe/Berlin (readers ignore ASCII case).",
        "type": "string",
        "minLength": 1,
        "maxLength": 32,
        "examples": ["UTC", "Europe/Berlin"]
    })
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

name_schema!(
    BlobKey,
    "BlobKey",
    json_schema!({
        "description": "The store key of an analysis blob: analysis/<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>.msgpack.",
        "type": "string",
        "pattern": "^analysis/[A-Z0-9]+/[0-9]+[smhdwM]/-?[0-9]+-[0-9]+-[0-9a-f]{16}\\.msgpack$"
    })
);

name_schema!(
    PlotKey,
    "PlotKey",
    json_schema!({
        "description": "The store key of a chart: plots/<SYMBOL>/<INTERVAL>/<END_MS>-<N>-<HASH>/<PLOT>-<W>x<H>[@<ZONE>].<png|svg>; the gateway serves it at GET /plots/{key}.",
        "type": "string",
        "pattern": "^plots/[A-Z0-9]+/[0-9]+[smhdwM]/-?[0-9]+-[0-9]+-[0-9a-f]{16}/[0-9a-z]+-[0-9]+x[0-9]+(@[A-Za-z0-9._+-]+)?\\.(png|svg)$"
    })
);
