//! waveplot's gateway: the web page, the HTTP API and the event gatherer. It publishes
//! render requests on the bus, follows each request's events until its deadline, and
//! serves the charts from the object store. It never computes wavelets or draws charts
//! (the single-process mode, `waveplot-standalone`, composes it with prepare and the
//! plotters).
//!
//! # Layout
//!
//! - [`config`]: flags and environment variables of the `gateway` binary.
//! - [`http`]: the HTTP server and its connection limits.
//! - [`app`]: the router and the state handlers share.
//! - [`routes`]: the API (`render`), the images (`plots`), the page, `meta`.
//! - [`status`]: a render's state as the API reports it.
//! - [`registry`]: the renders in memory, coalescing and reuse.
//! - [`gather`]: bus events → render statuses.
//! - [`error`]: the API's error type.

pub mod app;
pub mod config;
pub mod error;
pub mod gather;
pub mod http;
pub mod registry;
pub mod routes;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio_util::sync::CancellationToken;
use waveplot_service::Context;
use waveplot_service::health::Readiness;

use crate::app::AppState;
use crate::registry::Registry;

/// How the gateway serves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the HTTP server listens.
    pub http_addr: SocketAddr,
    /// How long a render may take.
    pub deadline: Duration,
    /// Renders running at once.
    pub max_renders: usize,
    /// The HTTP server's connection limits.
    pub limits: http::Limits,
    /// Sources the page offers, the default first.
    pub sources: Vec<waveplot_protocol::Source>,
}

impl Settings {
    /// The settings the HTTP flags describe, offering `sources`.
    pub fn new(http: &config::HttpArgs, sources: Vec<waveplot_protocol::Source>) -> Self {
        Self {
            http_addr: http.http_addr,
            deadline: http.deadline,
            max_renders: http.max_renders as usize,
            limits: http::Limits {
                max_connections: http.max_connections as usize,
                header_timeout: http.header_timeout,
            },
            sources,
        }
    }
}

/// Starts gathering events and serving HTTP; returns the bound address and a future
/// that runs until `shutdown`.
pub async fn serve(
    ctx: Context,
    settings: Settings,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, impl Future<Output = Result<()>>)> {
    let registry = Arc::new(Registry::default());
    let gatherer = gather::start(ctx.clone(), registry.clone()).await?;
    let gather_task = tokio::spawn(gatherer);
    let state = AppState {
        meta: routes::meta::Meta::new(settings.sources, settings.deadline.as_secs()),
        ctx,
        registry,
        deadline: settings.deadline,
        max_renders: settings.max_renders,
    };
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("listen on {}", settings.http_addr))?;
    let addr = listener.local_addr()?;
    readiness.serving();
    let server = async move {
        http::serve(
            listener,
            app::app(state, readiness),
            settings.limits,
            shutdown,
        )
        .await;
        gather_task.abort();
        Ok(())
    };
    Ok((addr, server))
}
