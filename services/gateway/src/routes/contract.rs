//! The contract as documents: `GET /api/openapi.json` (this HTTP API, OpenAPI 3.1) and
//! `GET /api/asyncapi.json` (the bus, AsyncAPI 3.0, under this deployment's subject
//! prefix). The schemas come from the handlers' and the protocol's own types, so the
//! documents change with the code; `docs/` holds them for the default prefix, and a
//! test fails when they differ from what this code generates.

use axum::Router;
use axum::http::header;
use axum::routing::get;
use schemars::JsonSchema;
use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Value, json};
use waveplot_protocol::{PlotKey, RequestId, Subjects};

use crate::app::{AppState, MAX_BODY_BYTES};
use crate::error::ErrorBody;
use crate::live::LiveEvent;
use crate::routes::meta::Meta;
use crate::routes::render::{Created, RenderBody};
use crate::routes::watch::Watching;
use crate::status::Status;

/// The routes of the two documents, generated once.
pub fn routes(subjects: &Subjects) -> Router<AppState> {
    let body = |doc: Value| {
        let text = serde_json::to_string_pretty(&doc).expect("a JSON value always serializes");
        move || std::future::ready(([(header::CONTENT_TYPE, "application/json")], text))
    };
    Router::new()
        .route("/api/openapi.json", get(body(openapi())))
        .route(
            "/api/asyncapi.json",
            get(body(waveplot_protocol::asyncapi::document(subjects))),
        )
}

/// A response described by `description`, with an `{"error"}` body.
fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    })
}

/// A JSON response described by `description`, of the schema `schema`.
fn ok_json(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema } }
    })
}

/// A health route: served on the public port only when `HEALTH_ADDR` names no other.
fn health(summary: &str, media: &str) -> Value {
    json!({
        "get": {
            "summary": summary,
            "description": "Served here unless HEALTH_ADDR puts the health routes on a listener of their own (compose does, unpublished).",
            "responses": {
                "200": { "description": summary, "content": { media: { "schema": { "type": "string" } } } },
                "503": { "description": "Not ready, with the reason.", "content": { media: { "schema": { "type": "string" } } } }
            }
        }
    })
}

fn schema_ref<T: JsonSchema>(g: &mut schemars::SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

/// The OpenAPI 3.1 document of the gateway's HTTP API. What it answers is described
/// as written (canonical names, in `components`); the request body as read, with every
/// spelling the API takes, inline (a name's two schemas share one component name).
pub fn openapi() -> Value {
    let mut read = SchemaSettings::draft2020_12();
    read.inline_subschemas = true;
    let body = read
        .into_generator()
        .into_root_schema_for::<RenderBody>()
        .to_value();
    let body = json!({
        "description": body["description"],
        "type": "object",
        "additionalProperties": body["additionalProperties"],
        "required": body["required"],
        "properties": body["properties"],
    });
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.contract = Contract::Serialize;
    let mut g = settings.into_generator();
    let created = schema_ref::<Created>(&mut g);
    let status = schema_ref::<Status>(&mut g);
    let meta = schema_ref::<Meta>(&mut g);
    let watching = schema_ref::<Watching>(&mut g);
    let live_event = schema_ref::<LiveEvent>(&mut g);
    schema_ref::<ErrorBody>(&mut g);
    // Named by a path parameter.
    schema_ref::<RequestId>(&mut g);
    let schemas = g.take_definitions(true);
    let id = json!({
        "name": "id", "in": "path", "required": true,
        "description": "The render's ID, as `POST /api/render` answered it.",
        "schema": { "$ref": "#/components/schemas/RequestId" }
    });
    // The chart route's parameter is a chart key after its leading `plots/`.
    let chart_key = waveplot_protocol::schema::schema_of::<PlotKey>(Contract::Serialize)
        .get("pattern")
        .and_then(Value::as_str)
        .map(|p| p.replacen("^plots/", "^", 1))
        .expect("a chart key's schema has a pattern");
    let document = json!({ "description": "The document.", "content": { "application/json": { "schema": { "type": "object" } } } });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "waveplot gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Wavelet charts of exchange candles: ask for a render, follow it, fetch its charts. Every error is {\"error\": \"...\"} in words that say what is allowed. The bus behind it is described at /api/asyncapi.json.",
            "license": { "name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0" }
        },
        "servers": [{ "url": "/" }],
        "paths": {
            "/api/render": {
                "post": {
                    "operationId": "createRender",
                    "summary": "Ask for a render",
                    "description": format!("Validates the request, asks prepare to accept it, and answers with the render's ID and URLs. An identical request still running, or complete, accepted less than {} s ago and still current, answers at once with the existing ID (`reused`). The body is at most {MAX_BODY_BYTES} bytes.", crate::registry::REUSE_FOR.as_secs()),
                    "requestBody": { "required": true, "content": { "application/json": { "schema": body } } },
                    "responses": {
                        "200": ok_json("The render was accepted (or an identical one reused).", created),
                        "400": error("The request is invalid; the error names the field and what is valid."),
                        "408": { "description": "The request took over 20 s to arrive (no body)." },
                        "413": error("The body is larger than allowed."),
                        "415": error("The body is not sent as application/json."),
                        "503": {
                            "description": "Busy (MAX_RENDERS renders running; retry after the Retry-After seconds), or prepare or the bus is unavailable.",
                            "headers": { "Retry-After": { "description": "Seconds to wait, when busy.", "schema": { "type": "integer" } } },
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
                        },
                        "504": error("prepare did not answer within 5 s.")
                    }
                }
            },
            "/api/render/{id}": {
                "get": {
                    "operationId": "getRender",
                    "summary": "A render's status",
                    "parameters": [id],
                    "responses": {
                        "200": ok_json("Where the render stands, per chart.", status.clone()),
                        "400": error("The ID is not a valid render ID."),
                        "404": error("No render of this ID is known to this gateway.")
                    }
                }
            },
            "/api/render/{id}/events": {
                "get": {
                    "operationId": "followRender",
                    "summary": "A render's status as Server-Sent Events",
                    "description": "Each event is named `status` and its data is the whole status (the schema of GET /api/render/{id}), sent on every change; the stream ends after the final one, which carries the total elapsed_ms.",
                    "parameters": [id],
                    "responses": {
                        "200": {
                            "description": "An event stream.",
                            "content": { "text/event-stream": { "schema": {
                                "description": "One event of the stream.",
                                "type": "object",
                                "required": ["event", "data"],
                                "properties": {
                                    "event": { "const": "status" },
                                    "data": {
                                        "type": "string",
                                        "contentMediaType": "application/json",
                                        "contentSchema": status
                                    }
                                }
                            } } }
                        },
                        "400": error("The ID is not a valid render ID."),
                        "404": error("No render of this ID is known to this gateway.")
                    }
                }
            },
            "/api/watch": {
                "post": {
                    "operationId": "watch",
                    "summary": "Follow a pair live",
                    "description": "The body is a render request's, of Binance candles (source binance or left out) and without end_ms. The gateway takes a watch at prepare (the bus's watch request) and, at each candle that closes, starts the render of the window ending at it (end_ms = the candle's open time), as POST /api/render would. The watch lasts while someone follows its events, and 30 s after the last one left.",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": body } } },
                    "responses": {
                        "200": ok_json("The pair is followed.", watching),
                        "400": error("The request is invalid, not of Binance candles, names an end, or prepare refused what the watch asks (e.g. a 1s interval); the error says which."),
                        "408": { "description": "The request took over 20 s to arrive (no body)." },
                        "413": error("The body is larger than allowed."),
                        "415": error("The body is not sent as application/json."),
                        "503": {
                            "description": "Busy (this gateway follows its most live pages, or prepare follows its most pairs or holds its most watches; retry after the Retry-After seconds), or prepare or the bus is unavailable.",
                            "headers": { "Retry-After": { "description": "Seconds to wait, when busy.", "schema": { "type": "integer" } } },
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
                        },
                        "504": error("prepare did not answer within 5 s.")
                    }
                }
            },
            "/api/watch/{id}/events": {
                "get": {
                    "operationId": "followWatch",
                    "summary": "A watch's news as Server-Sent Events",
                    "description": "Events named `render` (a candle closed; follow the render's events_url), `price` (the forming candle's latest price, at most once a second) and `error` (a close's render could not start, or the watch ended). The last `render` comes first. The stream ends when the watch does.",
                    "parameters": [{
                        "name": "id", "in": "path", "required": true,
                        "description": "The watch's ID, as `POST /api/watch` answered it.",
                        "schema": { "$ref": "#/components/schemas/RequestId" }
                    }],
                    "responses": {
                        "200": {
                            "description": "An event stream.",
                            "content": { "text/event-stream": { "schema": {
                                "description": "One event of the stream; its data's `event` repeats its name.",
                                "type": "object",
                                "required": ["event", "data"],
                                "properties": {
                                    "event": { "enum": ["render", "price", "error"] },
                                    "data": {
                                        "type": "string",
                                        "contentMediaType": "application/json",
                                        "contentSchema": live_event
                                    }
                                }
                            } } }
                        },
                        "400": error("The ID is not a valid watch ID."),
                        "404": error("No watch of this ID lasts at this gateway.")
                    }
                }
            },
            "/plots/{key}": {
                "get": {
                    "operationId": "getChart",
                    "summary": "A chart from the store",
                    "description": "Keys are content-addressed, so a chart never changes: it is served with an ETag and cached for a year. A status's plot `url` is this path.",
                    "parameters": [{
                        "name": "key", "in": "path", "required": true,
                        "description": "The chart's key after its leading `plots/` (a done event's `key`, a status's plot `key`), slashes included: SYMBOL/INTERVAL/END_MS-N-HASH/PLOT-WxH[@ZONE].png|svg.",
                        "schema": { "type": "string", "pattern": chart_key }
                    }],
                    "responses": {
                        "200": {
                            "description": "The image.",
                            "headers": { "ETag": { "schema": { "type": "string" } } },
                            "content": {
                                "image/png": { "schema": { "type": "string", "contentMediaType": "image/png" } },
                                "image/svg+xml": { "schema": { "type": "string", "contentMediaType": "image/svg+xml" } }
                            }
                        },
                        "304": { "description": "Not modified (If-None-Match named its ETag)." },
                        "400": error("Not a chart key."),
                        "404": error("No such chart in the store (never drawn, or expired).")
                    }
                }
            },
            "/api/meta": {
                "get": {
                    "operationId": "getMeta",
                    "summary": "What this deployment offers",
                    "responses": { "200": ok_json("Sources, suggested symbols, intervals, charts, deadline.", meta) }
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "responses": { "200": document.clone() }
                }
            },
            "/api/asyncapi.json": {
                "get": {
                    "operationId": "getAsyncApi",
                    "summary": "The bus's AsyncAPI 3.0 document, with a JSON Schema for every message",
                    "responses": { "200": document }
                }
            },
            "/livez": health("Alive: the process serves HTTP.", "text/plain"),
            "/readyz": health("Ready: the bus is connected and the store answers (503 with the reason otherwise).", "text/plain"),
            "/metrics": health("Prometheus metrics.", "text/plain"),
            "/": {
                "get": {
                    "operationId": "getPage",
                    "summary": "The web page",
                    "description": "A client of this API; its URL names a render (/?symbol=ETHUSDT&interval=1h, ...).",
                    "responses": { "200": { "description": "The page.", "content": { "text/html": { "schema": { "type": "string" } } } } }
                }
            }
        },
        "components": { "schemas": schemas }
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// `docs/<name>` of the repository.
    fn committed(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(name)
    }

    /// The committed document equals the generated one; `WAVEPLOT_BLESS=1` writes it.
    fn check(name: &str, generated: &Value) {
        let path = committed(name);
        let text = serde_json::to_string_pretty(generated).unwrap() + "\n";
        if std::env::var_os("WAVEPLOT_BLESS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == text,
            "docs/{name} differs from what the code generates; run \
             `WAVEPLOT_BLESS=1 cargo test -p waveplot-gateway contract` and commit docs/"
        );
    }

    #[test]
    fn the_committed_documents_are_what_the_code_generates() {
        check("openapi.json", &openapi());
        check(
            "asyncapi.json",
            &waveplot_protocol::asyncapi::document(&Subjects::default()),
        );
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = openapi();
        let text = doc.to_string();
        let mut rest = text.as_str();
        let mut seen = 0;
        while let Some(at) = rest.find("\"$ref\":\"#") {
            rest = &rest[at + 9..];
            let end = rest.find('"').unwrap();
            let pointer = &rest[..end];
            assert!(
                doc.pointer(pointer).is_some(),
                "#{pointer} does not resolve"
            );
            seen += 1;
        }
        assert!(seen > 10, "only {seen} references");
    }
}
