//! `GET /plots/{key}`: streams a chart from the store. Keys are content-addressed, so an
//! image never changes: it is served with an `ETag` and cached forever. Chart keys
//! start with `plots/`, so the short URL `/{key}` (`/plots/BTCUSDT/...png`) works as
//! well as the literal `/plots/{key}`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use waveplot_protocol::PlotKey;

use crate::app::AppState;
use crate::error::AppError;

/// A chart's Content-Security-Policy: nothing loads or runs, inline styles (SVG text
/// styling) aside, and the document is sandboxed.
pub const CHART_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// `GET /plots/{key}`
pub async fn image(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let key = if key.starts_with("plots/") {
        key
    } else {
        format!("plots/{key}")
    };
    let key = PlotKey::parse(&key).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let etag = format!(
        "\"{}\"",
        hex(&Sha256::digest(key.as_str().as_bytes())[..12])
    );
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, cache);
        if let Ok(v) = HeaderValue::from_str(&etag) {
            response.headers_mut().insert(header::ETAG, v);
        }
        return Ok(response);
    }
    let object = state
        .ctx
        .store
        .get_stream(key.as_str())
        .await
        .map_err(|e| {
            tracing::warn!(error = &e as &dyn std::error::Error, %key, "reading a chart failed");
            AppError::Unavailable("the object store is unavailable; try again shortly".into())
        })?
        .ok_or_else(|| AppError::NotFound(format!("no chart {key}")))?;
    let mut response = Body::from_stream(object.stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(key.format().content_type()),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(object.size));
    h.insert(header::CACHE_CONTROL, cache);
    // A chart is an image, never a document: an SVG opened on its own runs no script,
    // loads nothing and is sandboxed.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CHART_CSP),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(response)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
