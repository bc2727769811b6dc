//! The bus contract as an AsyncAPI 3.0 document: every subject as a channel, every
//! message with the JSON Schema of its type ([`crate::schema`]), written from
//! waveplot's side (it receives render requests and replies to them, and sends the
//! events). The gateway serves it at `GET /api/asyncapi.json`; `docs/asyncapi.json` is
//! the document of the default prefix, and a test keeps it equal to this one.

use schemars::JsonSchema;
use schemars::generate::Contract;
use serde_json::{Value, json};

use crate::event::{AcceptedEvent, DoneEvent, FailedEvent, PreparedEvent};
use crate::interval::Interval;
use crate::live::{AnomalyEvent, CandleEvent, PriceEvent, SignalEvent, WatchReply, WatchRequest};
use crate::message::{MAX_MESSAGE_BYTES, Message};
use crate::plot::PlotId;
use crate::request::{RenderReply, RenderRequest};
use crate::schema::schema_of;
use crate::subject::{Market, Stage, Subjects};

/// The media type of a message's payload schema: JSON Schema draft 2020-12 (AsyncAPI's
/// default, its own dialect of draft 07, cannot say `const` and `$defs` as 2020-12 does).
pub const SCHEMA_FORMAT: &str = "application/schema+json;version=draft-2020-12";

/// One message of the contract: its component name, what it is, and its schema.
struct MessageDoc {
    name: &'static str,
    title: &'static str,
    summary: &'static str,
    payload: Value,
    /// Whether it is kept by the event stream under a `Nats-Msg-Id` header.
    event: bool,
}

impl MessageDoc {
    /// The message `name` of type `T`, as waveplot writes it (`Contract::Serialize`) or
    /// reads it (`Contract::Deserialize`). Its schema is a resource of its own (`$id`),
    /// so its references (`#/$defs/...`) resolve within it, wherever it is embedded.
    fn of<T: Message + JsonSchema>(
        name: &'static str,
        summary: &'static str,
        event: bool,
        contract: Contract,
    ) -> Self {
        let mut payload = schema_of::<T>(contract).to_value();
        payload["$id"] = format!("urn:waveplot:v1:message:{name}").into();
        Self {
            name,
            title: T::NAME,
            summary,
            payload,
            event,
        }
    }

    fn component(&self) -> Value {
        let mut doc = json!({
            "name": self.name,
            "title": self.title,
            "summary": self.summary,
            "contentType": "application/json",
            "payload": { "schemaFormat": SCHEMA_FORMAT, "schema": self.payload },
        });
        if self.event {
            doc["headers"] = json!({
                "schemaFormat": SCHEMA_FORMAT,
                "schema": {
                    "type": "object",
                    "properties": {
                        "Nats-Msg-Id": {
                            "type": "string",
                            "description": "<request_id>.<event>[.<stage or plot>]: the same for a retry of the same event, so the event stream (and any reader) drops duplicates."
                        },
                        "Content-Type": { "const": "application/json" }
                    }
                }
            });
        }
        doc
    }
}

/// A channel parameter that is one of `values`.
fn parameter(values: Vec<&str>, description: &str) -> Value {
    json!({ "enum": values, "description": description })
}

/// The AsyncAPI 3.0 document of the subjects under `subjects`' prefix.
pub fn document(subjects: &Subjects) -> Value {
    let p = subjects.prefix();
    let messages = [
        MessageDoc::of::<RenderRequest>(
            "renderRequest",
            "Asks for a render; prepare's queue group answers with a render reply. Its schema is what prepare reads (names in any spelling its parsers take).",
            false,
            Contract::Deserialize,
        ),
        MessageDoc::of::<RenderReply>(
            "renderReply",
            "Accepts the request (its events follow) or rejects it, saying what is wrong.",
            false,
            Contract::Serialize,
        ),
        MessageDoc::of::<AcceptedEvent>(
            "accepted",
            "A request was accepted; stored in the event stream before the reply.",
            true,
            Contract::Serialize,
        ),
        MessageDoc::of::<PreparedEvent>(
            "prepared",
            "The analysis blob of a request is in the store.",
            true,
            Contract::Serialize,
        ),
        MessageDoc::of::<DoneEvent>(
            "done",
            "One chart is in the store.",
            true,
            Contract::Serialize,
        ),
        MessageDoc::of::<FailedEvent>(
            "failed",
            "A stage failed for a request, with a reason a person can act on.",
            true,
            Contract::Serialize,
        ),
        MessageDoc::of::<WatchRequest>(
            "watchRequest",
            "Asks prepare to follow a pair live, or renews the lease of the same watch_id; prepare's queue group answers with a watch reply.",
            false,
            Contract::Deserialize,
        ),
        MessageDoc::of::<WatchReply>(
            "watchReply",
            "Holds the lease (renew it within lease_ms) or refuses the watch, saying why.",
            false,
            Contract::Serialize,
        ),
        MessageDoc::of::<PriceEvent>(
            "price",
            "The forming candle of a watched pair, at most once a second.",
            false,
            Contract::Serialize,
        ),
        MessageDoc::of::<CandleEvent>(
            "candle",
            "A candle of a watched pair closed and is in the candle cache; after a reconnect, the candles missed come first, marked filled.",
            false,
            Contract::Serialize,
        ),
        MessageDoc::of::<AnomalyEvent>(
            "anomaly",
            "A watched analysis flags the candle that just closed: its |D1| is above the threshold of the window ending at it.",
            false,
            Contract::Serialize,
        ),
        MessageDoc::of::<SignalEvent>(
            "signal",
            "A watched analysis's signal changed at the candle that just closed.",
            false,
            Contract::Serialize,
        ),
    ];
    let components: serde_json::Map<String, Value> = messages
        .iter()
        .map(|m| (m.name.to_owned(), m.component()))
        .collect();
    let message_ref = |name: &str| json!({ "$ref": format!("#/components/messages/{name}") });
    let symbol = json!({ "description": "The window's trading pair, e.g. BTCUSDT." });
    let interval = parameter(
        Interval::ALL.map(Interval::as_str).to_vec(),
        "The window's kline interval.",
    );
    let market = |kind: Market, title: &str| {
        json!({
            "address": format!("{p}.{kind}.{{symbol}}.{{interval}}"),
            "title": title,
            "description": "A market event: plain NATS, not kept by the event stream; its Nats-Msg-Id header names the pair and the candle (or the window), so a copy can be dropped.",
            "parameters": { "symbol": symbol, "interval": interval },
            "messages": { kind.as_str(): message_ref(kind.as_str()) }
        })
    };
    let channels = json!({
        "render": {
            "address": subjects.render(),
            "title": "Render requests",
            "description": "Request/reply: a request is answered at once by one prepare instance (a queue group).",
            "messages": { "renderRequest": message_ref("renderRequest") }
        },
        "renderReply": {
            "address": null,
            "title": "Render replies",
            "description": "The reply inbox the requester named.",
            "messages": { "renderReply": message_ref("renderReply") }
        },
        "accepted": {
            "address": format!("{p}.accepted.{{symbol}}.{{interval}}"),
            "title": "Accepted requests",
            "parameters": { "symbol": symbol, "interval": interval },
            "messages": { "accepted": message_ref("accepted") }
        },
        "prepared": {
            "address": format!("{p}.prepared.{{symbol}}.{{interval}}"),
            "title": "Analysed windows",
            "parameters": { "symbol": symbol, "interval": interval },
            "messages": { "prepared": message_ref("prepared") }
        },
        "done": {
            "address": format!("{p}.done.{{plot_id}}"),
            "title": "Charts in the store",
            "parameters": {
                "plot_id": parameter(PlotId::ALL.map(PlotId::as_str).to_vec(), "The chart.")
            },
            "messages": { "done": message_ref("done") }
        },
        "failed": {
            "address": format!("{p}.failed.{{stage}}"),
            "title": "Failures",
            "parameters": {
                "stage": parameter(Stage::ALL.map(Stage::as_str).to_vec(), "The stage that failed.")
            },
            "messages": { "failed": message_ref("failed") }
        },
        "watch": {
            "address": subjects.watch(),
            "title": "Watch requests",
            "description": "Request/reply: a request is answered at once by one prepare instance (a queue group). The gateway and observers may send them.",
            "messages": { "watchRequest": message_ref("watchRequest") }
        },
        "watchReply": {
            "address": null,
            "title": "Watch replies",
            "description": "The reply inbox the requester named.",
            "messages": { "watchReply": message_ref("watchReply") }
        },
        "price": market(Market::Price, "The forming candle of a watched pair"),
        "candle": market(Market::Candle, "Closed candles of a watched pair"),
        "anomaly": market(Market::Anomaly, "Anomalies at the close of a watched pair"),
        "signal": market(Market::Signal, "Signal changes at the close of a watched pair"),
        "serviceApi": {
            "address": "$SRV.{verb}",
            "title": "The NATS service API",
            "description": "Every service instance (waveplot-prepare, waveplot-plotter-<PLOT_ID>, waveplot-gateway) answers the NATS service API (`nats micro`), also on $SRV.{verb}.<name> and $SRV.{verb}.<name>.<id>, with the io.nats.micro.v1 ping, info and stats responses that API defines; it answers into an inbox only (_INBOX.observer.> for the observer), at most 20 requests a second.",
            "parameters": { "verb": parameter(vec!["PING", "INFO", "STATS"], "What is asked.") },
            "messages": {
                "serviceRequest": {
                    "name": "serviceRequest",
                    "summary": "A request of the service API; its payload is ignored."
                }
            }
        }
    });
    let send = |channel: &str, summary: &str| {
        json!({
            "action": "send",
            "summary": summary,
            "channel": { "$ref": format!("#/channels/{channel}") },
            "messages": [{ "$ref": format!("#/channels/{channel}/messages/{channel}") }]
        })
    };
    json!({
        "asyncapi": "3.0.0",
        "id": "urn:waveplot:bus",
        "info": {
            "title": "waveplot bus",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "The NATS subjects of one waveplot deployment (prefix `{p}`). Every message is JSON with \"v\": 1 and the request's ID; within version 1 fields are only added, and readers ignore fields they do not know. A message is at most {MAX_MESSAGE_BYTES} bytes. The render events (accepted, prepared, done, failed) are kept by the JetStream stream WAVEPLOT_EVENTS; the market events of watched pairs (price, candle, anomaly, signal) are plain NATS messages."
            ),
            "license": { "name": "MIT OR Apache-2.0" }
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "The deployment's NATS server; tools log in as `observer` (they read everything and may send watch requests, nothing else)."
            }
        },
        "channels": channels,
        "operations": {
            "receiveRender": {
                "action": "receive",
                "summary": "prepare takes a render request and replies at once.",
                "channel": { "$ref": "#/channels/render" },
                "messages": [{ "$ref": "#/channels/render/messages/renderRequest" }],
                "reply": {
                    "address": { "location": "$message.header#/replyTo" },
                    "channel": { "$ref": "#/channels/renderReply" },
                    "messages": [{ "$ref": "#/channels/renderReply/messages/renderReply" }]
                }
            },
            "sendAccepted": send("accepted", "prepare announces an accepted request."),
            "sendPrepared": send("prepared", "prepare announces a blob in the store."),
            "sendDone": send("done", "A plotter announces a chart in the store."),
            "sendFailed": send("failed", "Any stage announces a failure."),
            "receiveWatch": {
                "action": "receive",
                "summary": "prepare takes a watch request and replies at once.",
                "channel": { "$ref": "#/channels/watch" },
                "messages": [{ "$ref": "#/channels/watch/messages/watchRequest" }],
                "reply": {
                    "address": { "location": "$message.header#/replyTo" },
                    "channel": { "$ref": "#/channels/watchReply" },
                    "messages": [{ "$ref": "#/channels/watchReply/messages/watchReply" }]
                }
            },
            "sendPrice": send("price", "prepare publishes the forming candle of a watched pair."),
            "sendCandle": send("candle", "prepare publishes each closed candle of a watched pair."),
            "sendAnomaly": send("anomaly", "prepare publishes an anomaly at a close."),
            "sendSignal": send("signal", "prepare publishes a signal change at a close."),
            "receiveServiceApi": {
                "action": "receive",
                "summary": "Every service instance answers the NATS service API.",
                "channel": { "$ref": "#/channels/serviceApi" },
                "messages": [{ "$ref": "#/channels/serviceApi/messages/serviceRequest" }]
            }
        },
        "components": { "messages": components }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbol::Symbol;

    /// Fills a channel's address with parameter values.
    fn address(doc: &Value, channel: &str, values: &[(&str, &str)]) -> String {
        let mut a = doc["channels"][channel]["address"]
            .as_str()
            .unwrap()
            .to_owned();
        for (k, v) in values {
            a = a.replace(&format!("{{{k}}}"), v);
        }
        a
    }

    #[test]
    fn channel_addresses_are_the_subjects_the_services_use() {
        let subjects = Subjects::new("desk.wp").unwrap();
        let doc = document(&subjects);
        let btc = Symbol::parse("BTCUSDT").unwrap();
        let window = [("symbol", "BTCUSDT"), ("interval", "5m")];
        assert_eq!(address(&doc, "render", &[]), subjects.render());
        assert_eq!(
            address(&doc, "accepted", &window),
            subjects.accepted(&btc, Interval::M5)
        );
        assert_eq!(
            address(&doc, "prepared", &window),
            subjects.prepared(&btc, Interval::M5)
        );
        for plot in PlotId::ALL {
            assert_eq!(
                address(&doc, "done", &[("plot_id", plot.as_str())]),
                subjects.done(plot)
            );
        }
        for stage in Stage::ALL {
            assert_eq!(
                address(&doc, "failed", &[("stage", stage.as_str())]),
                subjects.failed(stage)
            );
        }
        assert_eq!(address(&doc, "watch", &[]), subjects.watch());
        for kind in Market::ALL {
            assert_eq!(
                address(&doc, kind.as_str(), &window),
                subjects.market(kind, &btc, Interval::M5)
            );
        }
    }

    #[test]
    fn every_reference_resolves_in_its_resource() {
        let mut doc = document(&Subjects::default());
        let mut payloads = Vec::new();
        for (name, message) in doc["components"]["messages"].as_object_mut().unwrap() {
            // Each payload is a resource of its own: its references resolve within it.
            let payload = message["payload"]["schema"].take();
            assert_eq!(payload["$id"], format!("urn:waveplot:v1:message:{name}"));
            payloads.push(payload);
        }
        for resource in payloads.iter().chain([&doc]) {
            let mut refs = Vec::new();
            collect_refs(resource, &mut refs);
            assert!(!refs.is_empty());
            for r in refs {
                let pointer = r.strip_prefix('#').unwrap();
                assert!(resource.pointer(pointer).is_some(), "{r} does not resolve");
            }
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| collect_refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
