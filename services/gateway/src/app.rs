//! The HTTP application: routes, shared state, and the render flow (validate, publish
//! the request, gather its events until the deadline).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use waveplot_service::Context;
use waveplot_service::health::{self, Readiness};

use crate::registry::Registry;
use crate::routes;

/// How long the gateway waits for prepare to accept or reject a request.
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request body: a render request is a small JSON object (under 1 KiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// How long a request may take until its response starts (reading the body included);
/// a response's body, such as an event stream, is not limited by it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Bus, store and subjects.
    pub ctx: Context,
    /// The renders this gateway started.
    pub registry: Arc<Registry>,
    /// How long a render may take before missing charts are reported as failed.
    pub deadline: Duration,
    /// Renders running at once; one more is answered 503 with Retry-After.
    pub max_renders: usize,
    /// What the page offers (sources, defaults).
    pub meta: routes::meta::Meta,
}

/// The gateway's router: page, API, images and health.
pub fn app(state: AppState, readiness: Readiness) -> Router {
    let api = Router::new()
        .route("/api/render", post(routes::render::create))
        .route("/api/render/{id}", get(routes::render::status))
        .route("/api/render/{id}/events", get(routes::render::events))
        .route("/api/meta", get(routes::meta::meta))
        .route("/plots/{*key}", get(routes::plots::image))
        .merge(routes::page::routes())
        .with_state(state);
    api.merge(health::routes(readiness))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CompressionLayer::new().gzip(true))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
}
