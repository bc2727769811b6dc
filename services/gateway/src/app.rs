//! The HTTP application: routes, shared state, and the render flow (validate, publish
//! the request, gather its events until the deadline).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
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
    /// The live pages' watches.
    pub watches: Arc<crate::live::Watches>,
    /// How long a render may take before missing charts are reported as failed.
    pub deadline: Duration,
    /// Renders running at once; one more is answered 503 with Retry-After.
    pub max_renders: usize,
    /// What the page offers (sources, defaults).
    pub meta: routes::meta::Meta,
}

/// The page's Content-Security-Policy: everything from the gateway itself, nothing
/// inline, no plugins, never framed. Responses that set their own (charts) keep it.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The gateway's router: page, API, images, and health when `with_health`. Every
/// response says `nosniff`, `no-referrer` and `DENY` (framing), and carries
/// [`PAGE_CSP`] unless it set a policy of its own.
pub fn app(state: AppState, readiness: Readiness, with_health: bool) -> Router {
    let api = Router::new()
        .route("/api/render", post(routes::render::create))
        .route("/api/render/{id}", get(routes::render::status))
        .route("/api/render/{id}/events", get(routes::render::events))
        .route("/api/watch", post(routes::watch::create))
        .route("/api/watch/{id}/events", get(routes::watch::events))
        .route("/api/meta", get(routes::meta::meta))
        .route("/plots/{*key}", get(routes::plots::image))
        .merge(routes::page::routes())
        .merge(routes::contract::routes(&state.ctx.subjects))
        .with_state(state);
    let app = if with_health {
        api.merge(health::routes(readiness))
    } else {
        api
    };
    app.layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CompressionLayer::new().gzip(true))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(TraceLayer::new_for_http())
}
