//! The live API ([`crate::live`]).
//!
//! - `POST /api/watch` with a render request's body (Binance candles, no `end_ms`) →
//!   `{"id", "events_url"}`: the gateway follows the pair while a page follows the
//!   events.
//! - `GET /api/watch/{id}/events` → Server-Sent Events: `render` at each closed candle
//!   (the render of the window ending at it; follow its `events_url`), `price` with the
//!   forming candle's latest price at most once a second, `error` when a close's render
//!   could not start or the watch ended. The last `render` comes first.

use std::convert::Infallible;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use serde::Serialize;
use tokio_stream::wrappers::BroadcastStream;
use waveplot_protocol::{RequestId, Source};

use crate::app::AppState;
use crate::error::AppError;
use crate::routes::render::{RenderBody, read_body};

/// The answer to `POST /api/watch`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Watching {
    /// The watch's ID.
    id: RequestId,
    /// Its events.
    events_url: String,
}

/// `POST /api/watch`
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Watching>, AppError> {
    let body = read_body(body)?;
    let request = RenderBody::from_json(&headers, &body)?.into_request();
    if request.source != Source::Binance {
        return Err(AppError::BadRequest(format!(
            "source: {}; live charts follow Binance, and this source does not change (render it instead)",
            request.source
        )));
    }
    if request.end_ms.is_some() {
        return Err(AppError::BadRequest(
            "end_ms: a watch follows the newest candles; leave end_ms out".into(),
        ));
    }
    request
        .check(jiff::Timestamp::now().as_millisecond())
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let watch = crate::live::watch(&state, request).await?;
    let id = watch.id.clone();
    Ok(Json(Watching {
        events_url: format!("/api/watch/{id}/events"),
        id,
    }))
}

/// `GET /api/watch/{id}/events`
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let id = RequestId::parse(&id).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let watch = state.watches.get(&id).ok_or_else(|| {
        AppError::NotFound(format!(
            "no watch {id}: it ended (a watch lasts while a page follows it); start a new one"
        ))
    })?;
    let (latest, receiver, follower) = watch.follow();
    let live = BroadcastStream::new(receiver).filter_map(|e| std::future::ready(e.ok()));
    let stream = futures::stream::iter(latest)
        .chain(live)
        .take_until(watch.ended.clone().cancelled_owned())
        .map(move |event| {
            // The stream holds the follower: the page counts until it goes.
            let _page = &follower;
            Ok(Event::default()
                .event(event.name())
                .json_data(&event)
                .unwrap_or_else(|_| Event::default().event("error")))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
