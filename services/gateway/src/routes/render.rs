//! The render API.
//!
//! - `POST /api/render` with `{"symbol", "interval", "source"?, "window"?, "end_ms"?,
//!   "wavelet"?, "mode"?, "mra"?, "levels"?, "anomaly_k"?, "trend_level"?, "width"?,
//!   "height"?, "format"?, "tz"?, "plots"?}` → `{"id", "plots", "status_url", "events_url", "reused"}`.
//!   An identical request still running, or complete, accepted less than
//!   [`REUSE_FOR`](crate::registry::REUSE_FOR) ago and still current, answers with its
//!   existing ID at once.
//! - `GET /api/render/{id}` → the render's [`Status`].
//! - `GET /api/render/{id}/events` → Server-Sent Events: `status` with the whole status
//!   on every change; the stream ends after the final one.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use waveplot_protocol::request::{MAX_LEVELS, MAX_SIDE, MAX_WINDOW, MIN_SIDE, MIN_WINDOW};
use waveplot_protocol::{
    FailedEvent, ImageFormat, Interval, Message, Mode, MraKind, PlotId, RenderReply, RenderRequest,
    RequestId, Source, Stage, Symbol, TimeZone, V1, Wavelet,
};
use waveplot_service::BusError;

use crate::app::{ACCEPT_TIMEOUT, AppState, MAX_BODY_BYTES};
use crate::error::AppError;
use crate::registry::Render;
use crate::status::Status;

/// The body of `POST /api/render`: a render request without `v` and `request_id`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderBody {
    /// Trading pair, e.g. `BTCUSDT` (also `btc/usdt`, `BTC-USDT`, or `BTC` for BTCUSDT).
    symbol: Symbol,
    /// Kline interval.
    interval: Interval,
    /// Where the candles come from; default: the first of `GET /api/meta`'s sources.
    #[serde(default)]
    source: Option<Source>,
    /// Number of candles; default: the interval's look-back.
    #[schemars(range(min = MIN_WINDOW, max = MAX_WINDOW))]
    window: Option<u32>,
    /// Open time (ms, UTC) of the last candle; default: the latest closed candle.
    #[schemars(range(min = 0))]
    end_ms: Option<i64>,
    /// Wavelet; default `haar`.
    wavelet: Option<Wavelet>,
    /// Extension mode; default `symmetric`.
    mode: Option<Mode>,
    /// MRA kind; default `modwt`.
    mra: Option<MraKind>,
    /// Decomposition levels; default 8.
    #[schemars(range(min = 1, max = MAX_LEVELS))]
    levels: Option<u32>,
    /// Anomaly factor k in `median + k·MAD`; default 6.
    #[schemars(extend("exclusiveMinimum" = 0))]
    anomaly_k: Option<f64>,
    /// Smooth level used as the trend of the signals; default 6.
    #[schemars(range(min = 1))]
    trend_level: Option<u32>,
    /// Chart width in pixels; default per chart.
    #[schemars(range(min = MIN_SIDE, max = MAX_SIDE))]
    width: Option<u32>,
    /// Chart height in pixels; default per chart (a lone width keeps the chart's aspect).
    #[schemars(range(min = MIN_SIDE, max = MAX_SIDE))]
    height: Option<u32>,
    /// Image format; default `png`.
    format: Option<ImageFormat>,
    /// Time zone of the charts' axes and dates; default `UTC`.
    tz: Option<TimeZone>,
    /// Which charts to draw (a repeat is dropped); default all six.
    #[schemars(length(min = 1))]
    plots: Option<Vec<PlotId>>,
}

impl RenderBody {
    /// Reads a body sent as `application/json`. A mistake is named by its field, with
    /// what the field allows, never by the deserializer's types.
    pub fn from_json(headers: &HeaderMap, body: &[u8]) -> Result<Self, AppError> {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !json {
            return Err(AppError::UnsupportedMediaType(
                "send the render request as JSON, with the header Content-Type: application/json"
                    .into(),
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        let parsed: Self = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| AppError::BadRequest(body_error(&e)))?;
        de.end()
            .map_err(|e| AppError::BadRequest(format!("the body is not one JSON object: {e}")))?;
        Ok(parsed)
    }

    /// The render request this body asks for, under a newly generated ID, with each chart
    /// listed once; its ranges are not checked yet ([`RenderRequest::check`] does that).
    pub fn into_request(self) -> RenderRequest {
        let mut r = RenderRequest::new(RequestId::generate(), self.symbol, self.interval);
        r.source = self.source.unwrap_or_default();
        r.window = self.window;
        r.end_ms = self.end_ms;
        r.wavelet = self.wavelet;
        r.mode = self.mode;
        r.mra = self.mra;
        r.levels = self.levels;
        r.anomaly_k = self.anomaly_k;
        r.trend_level = self.trend_level;
        r.width = self.width;
        r.height = self.height;
        r.format = self.format.unwrap_or_default();
        r.tz = self.tz;
        if let Some(plots) = self.plots {
            r.plots = plots;
        }
        r.dedup_plots();
        r
    }
}

/// The words for a body that did not read as a render request: the field, then what is
/// wrong with it and what it allows.
fn body_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = e.inner();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    let text = inner.to_string();
    if !inner.is_data() {
        return format!("the body is not a JSON object: {text}");
    }
    let message = text.strip_suffix(&position).unwrap_or(&text);
    if message.contains("expected struct RenderBody") {
        return r#"the body must be a JSON object such as {"symbol": "BTCUSDT", "interval": "5m"}"#
            .to_owned();
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        let allowed = match field {
            "interval" => format!("one of {}", Interval::ALL.map(Interval::as_str).join(", ")),
            "symbol" => "a trading pair such as BTCUSDT".to_owned(),
            _ => "see GET /api/openapi.json".to_owned(),
        };
        return format!("{field} is required: {allowed}");
    }
    let message = message
        .replace(
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        )
        .replace("expected i64", "expected a whole number")
        .replace("expected f64", "expected a number");
    match e.path().to_string().as_str() {
        "." => message,
        path => format!("{path}: {message}"),
    }
}

/// The answer to `POST /api/render`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Created {
    id: RequestId,
    plots: Vec<PlotId>,
    status_url: String,
    events_url: String,
    /// True when an identical render (running, or complete, recent and current)
    /// answered.
    reused: bool,
}

impl Created {
    fn of(render: &Render, reused: bool) -> Self {
        let status = render.status.borrow();
        let id = status.id.clone();
        Self {
            status_url: format!("/api/render/{id}"),
            events_url: format!("/api/render/{id}/events"),
            plots: status.plots.keys().copied().collect(),
            id,
            reused,
        }
    }
}

/// `POST /api/render`
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Created>, AppError> {
    let body = read_body(body)?;
    let body = RenderBody::from_json(&headers, &body)?;
    let request = body.into_request();
    let now_ms = jiff::Timestamp::now().as_millisecond();
    request
        .check(now_ms)
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let (render, reused) = start(&state, request).await?;
    Ok(Json(Created::of(&render, reused)))
}

/// Reads the body of a request that carries a render request: too large or unreadable
/// is said in words.
pub fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, AppError> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge(format!(
            "request body over {MAX_BODY_BYTES} bytes; a render request is a small JSON object"
        )),
        _ => AppError::BadRequest(format!(
            "the request body could not be read: {}",
            e.body_text()
        )),
    })
}

/// Starts a checked render, or answers with an identical one still running or recent
/// (`true`); the render is followed until its deadline.
pub async fn start(
    state: &AppState,
    request: RenderRequest,
) -> Result<(Arc<Render>, bool), AppError> {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    if let Some(existing) = state.registry.reusable(&request, now_ms) {
        metrics::counter!("waveplot_gateway_renders_total", "outcome" => "reused").increment(1);
        return Ok((existing, true));
    }
    let Some(render) = state.registry.admit(request.clone(), state.max_renders) else {
        metrics::counter!("waveplot_gateway_renders_total", "outcome" => "busy").increment(1);
        return Err(AppError::Busy {
            message: format!(
                "busy: {} renders are running, the most this gateway runs at once (MAX_RENDERS); try again in a moment",
                state.max_renders
            ),
            retry_after: 1,
        });
    };
    match ask_prepare(state, &request).await {
        Ok(()) => {
            metrics::counter!("waveplot_gateway_renders_total", "outcome" => "accepted")
                .increment(1);
            tokio::spawn(enforce_deadline(state.clone(), render.clone()));
            Ok((render, false))
        }
        Err(e) => {
            metrics::counter!("waveplot_gateway_renders_total", "outcome" => "refused")
                .increment(1);
            state.registry.remove(&request.request_id);
            Err(e)
        }
    }
}

/// How long "nobody listens" is retried: after a bus restart prepare may not have
/// subscribed again yet (it retries at least once a second), and the request is safe to
/// resend because nobody got it.
const NO_RESPONDERS_GRACE: Duration = Duration::from_millis(1500);

async fn ask_prepare(state: &AppState, request: &RenderRequest) -> Result<(), AppError> {
    let id = &request.request_id;
    let is_answer = |reply: &[u8]| match RenderReply::decode(reply) {
        Ok(RenderReply::Accepted { request_id, .. }) => request_id == *id,
        Ok(RenderReply::Rejected { request_id, .. }) => request_id.as_ref() == Some(id),
        Err(_) => false,
    };
    let payload = request.encode().into();
    let reply = ask(state, state.ctx.subjects.render(), payload, is_answer).await?;
    match RenderReply::decode(&reply).map_err(|e| AppError::Internal(e.into()))? {
        RenderReply::Accepted { .. } => Ok(()),
        RenderReply::Rejected { error, .. } => Err(AppError::BadRequest(error)),
    }
}

/// Sends a request to prepare on `subject` and returns its reply, the first for which
/// `is_answer` holds (see [`waveplot_service::Bus::request_answer`]): a prepare that is
/// not listening yet is asked again for 1.5 s; no answer is an error
/// in words (503 or 504).
pub async fn ask(
    state: &AppState,
    subject: String,
    payload: Bytes,
    is_answer: impl Fn(&[u8]) -> bool,
) -> Result<Bytes, AppError> {
    let started = Instant::now();
    let reply = loop {
        let left = ACCEPT_TIMEOUT.saturating_sub(started.elapsed());
        match state
            .ctx
            .bus
            .request_answer(subject.clone(), payload.clone(), left, &is_answer)
            .await
        {
            Err(BusError::NoResponders { .. }) if started.elapsed() < NO_RESPONDERS_GRACE => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other,
        }
    };
    reply.map_err(|e| match e {
        BusError::NoResponders { .. } if !state.ctx.bus.is_connected() => AppError::Unavailable(
            "message bus unavailable: the gateway is reconnecting to NATS; try again in a moment"
                .into(),
        ),
        BusError::NoResponders { .. } => AppError::Unavailable(format!(
            "prepare service unavailable: no prepare instance answered within {:.1} s (none is running, or all are reconnecting to the bus)",
            NO_RESPONDERS_GRACE.as_secs_f64()
        )),
        BusError::Timeout { .. } => AppError::Timeout(format!(
            "prepare service did not answer within {} s",
            ACCEPT_TIMEOUT.as_secs()
        )),
        other => {
            tracing::warn!(error = &other as &dyn std::error::Error, "sending a request to prepare failed");
            AppError::Unavailable("message bus unavailable; try again shortly".into())
        }
    })
}

/// At the deadline, every chart still missing fails with a reason, announced on the bus.
async fn enforce_deadline(state: AppState, render: Arc<Render>) {
    let mut watcher = render.status.subscribe();
    let finished = tokio::time::timeout(state.deadline, watcher.wait_for(Status::is_final))
        .await
        .is_ok_and(|ended| ended.is_ok());
    if finished {
        return;
    }
    let elapsed_ms = render.started.elapsed().as_secs_f64() * 1e3;
    let (id, missing) = {
        let s = render.status.borrow();
        (s.id.clone(), s.pending_plots())
    };
    let secs = state.deadline.as_secs_f64();
    let prepared = render.status.borrow().prepared.is_some();
    for plot in missing {
        let reason = if prepared {
            format!("no chart {plot} within {secs:.0} s: its plotter may be down or overloaded")
        } else {
            format!("no analysis within {secs:.0} s: the prepare service may be overloaded")
        };
        render.status.send_modify(|s| s.expire(plot, &reason));
        let event = FailedEvent {
            v: V1,
            request_id: Some(id.clone()),
            stage: Stage::Gateway,
            plot_id: Some(plot),
            reason,
        };
        if let Err(e) = state.ctx.bus.send(&state.ctx.subjects, &event).await {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "could not publish the deadline failure"
            );
        }
    }
    render.status.send_modify(|s| {
        if s.prepared.is_none() && s.error.is_none() {
            s.error = Some(format!("the analysis did not finish within {secs:.0} s"));
        }
        s.elapsed_ms = elapsed_ms;
        s.settle();
    });
}

fn find(state: &AppState, id: &str) -> Result<Arc<Render>, AppError> {
    let id = RequestId::parse(id).map_err(|e| AppError::BadRequest(e.to_string()))?;
    state.registry.get(&id).ok_or_else(|| {
        AppError::NotFound(format!(
            "no render {id} (renders are kept in memory for a while; start a new one)"
        ))
    })
}

/// `GET /api/render/{id}`
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Status>, AppError> {
    let render = find(&state, &id)?;
    let mut status = render.status.borrow().clone();
    if !status.is_final() {
        status.elapsed_ms = render.started.elapsed().as_secs_f64() * 1e3;
    }
    Ok(Json(status))
}

/// `GET /api/render/{id}/events`
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let render = find(&state, &id)?;
    let stream = statuses(render.status.subscribe()).map(|status| {
        Ok(Event::default()
            .event("status")
            .json_data(&status)
            .unwrap_or_else(|_| Event::default().event("error")))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The current status, then each change, ending right after the final one (a stream
/// that waited for the change after the final status would stay open for good).
fn statuses(watcher: tokio::sync::watch::Receiver<Status>) -> impl Stream<Item = Status> {
    futures::stream::unfold(Some((watcher, true)), |state| async move {
        let (mut watcher, first) = state?;
        if !first && watcher.changed().await.is_err() {
            return None;
        }
        let status = watcher.borrow_and_update().clone();
        let next = (!status.is_final()).then_some((watcher, false));
        Some((status, next))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::tests::request;

    /// A client that asks for the events of a finished render gets its final status and
    /// the end of the stream, not a connection held open for good.
    #[tokio::test]
    async fn the_event_stream_ends_after_the_final_status() {
        let mut finished = Status::new(request(&[PlotId::Overview]));
        finished.failed(None, "no candles");
        let (_keep, watcher) = tokio::sync::watch::channel(finished);
        let all: Vec<Status> =
            tokio::time::timeout(Duration::from_secs(5), statuses(watcher).collect())
                .await
                .expect("the stream of a finished render ends");
        assert_eq!(all.len(), 1);
        assert!(all[0].is_final());

        let (tx, watcher) = tokio::sync::watch::channel(Status::new(request(&[PlotId::Overview])));
        let follower = tokio::spawn(statuses(watcher).collect::<Vec<_>>());
        tokio::task::yield_now().await;
        tx.send_modify(|s| s.failed(None, "no candles"));
        let all = tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .expect("the stream ends after the final change")
            .unwrap();
        assert_eq!(
            all.last().map(Status::is_final),
            Some(true),
            "{} statuses",
            all.len()
        );
    }

    /// The anomaly factor is part of the blob key, so the number a client wrote must be
    /// read back to the same f64 (serde_json's `float_roundtrip`; without it about one
    /// value in a few thousand came out 1 ULP off).
    #[test]
    fn an_anomaly_factor_is_read_exactly_as_written() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let k = 1.0 + (state >> 11) as f64 / (1u64 << 53) as f64 * 20.0;
            let body = format!(r#"{{"symbol": "BTC", "interval": "5m", "anomaly_k": {k}}}"#);
            let read: RenderBody = serde_json::from_str(&body).unwrap();
            assert_eq!(
                read.anomaly_k.map(f64::to_bits),
                Some(k.to_bits()),
                "{body}"
            );
        }
    }
}
