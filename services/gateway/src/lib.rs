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
//! - [`live`]: live pages: watches, and a render at each closed candle.
//! - [`gather`]: bus events → render statuses.
//! - [`error`]: the API's error type.

pub mod app;
pub mod config;
pub mod error;
pub mod gather;
pub mod http;
pub mod live;
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
    /// Whether the HTTP port also serves `/livez`, `/readyz`, `/healthz` and
    /// `/metrics`; not when they have a listener of their own (`HEALTH_ADDR`), so the
    /// public port serves only the page and the API.
    pub health_routes: bool,
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
    /// The settings the HTTP flags describe, listening on `default_addr` unless
    /// `HTTP_ADDR` says otherwise, offering `sources`, with the health routes on the
    /// HTTP port when `health_routes`.
    pub fn new(
        http: &config::HttpArgs,
        default_addr: SocketAddr,
        health_routes: bool,
        sources: Vec<waveplot_protocol::Source>,
    ) -> Self {
        Self {
            http_addr: http.http_addr.unwrap_or(default_addr),
            health_routes,
            deadline: http.deadline,
            max_renders: http.max_renders as usize,
            limits: http::Limits {
                max_connections: http.max_connections as usize,
                max_per_client: http.max_connections_per_address as usize,
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
        watches: Arc::default(),
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
            app::app(state, readiness, settings.health_routes),
            settings.limits,
            shutdown,
        )
        .await;
        gather_task.abort();
        Ok(())
    };
    Ok((addr, server))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use reqwest::blocking::Response;
    use reqwest::header::{CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
    use waveplot_protocol::Source;
    use waveplot_service::Context;

    use super::*;

    /// A gateway over an in-process bus and a memory store holding one SVG chart, on a
    /// free loopback port; the chart's key.
    async fn gateway(health_routes: bool) -> (SocketAddr, &'static str) {
        let ctx = Context::in_process();
        let chart = "plots/BTCUSDT/5m/1-2-0123456789abcdef/02b-1280x720.svg";
        ctx.store.put(chart, "<svg/>".into()).await.unwrap();
        let settings = Settings {
            http_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            health_routes,
            deadline: Duration::from_secs(5),
            max_renders: 4,
            limits: http::Limits {
                max_connections: 16,
                max_per_client: 16,
                header_timeout: Duration::from_secs(5),
            },
            sources: vec![Source::Sample],
        };
        let readiness = Readiness::new(ctx.bus.clone(), ctx.store.clone());
        let (addr, server) = serve(ctx, settings, readiness, CancellationToken::new())
            .await
            .unwrap();
        tokio::spawn(server);
        (addr, chart)
    }

    async fn get(addr: SocketAddr, path: &str) -> Response {
        let url = format!("http://{addr}{path}");
        tokio::task::spawn_blocking(move || {
            let client = waveplot_testkit::http_client_builder().build().unwrap();
            client.get(url).send().unwrap()
        })
        .await
        .unwrap()
    }

    fn header(r: &Response, name: reqwest::header::HeaderName) -> &str {
        r.headers()
            .get(&name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }

    #[tokio::test]
    async fn the_page_the_api_and_the_charts_carry_their_security_headers() {
        let (addr, chart) = gateway(true).await;
        for path in ["/", "/assets/app.js", "/api/meta", "/api/render/nope"] {
            let r = get(addr, path).await;
            assert_eq!(header(&r, X_CONTENT_TYPE_OPTIONS), "nosniff", "{path}");
            assert_eq!(header(&r, X_FRAME_OPTIONS), "DENY", "{path}");
            assert_eq!(header(&r, CONTENT_SECURITY_POLICY), app::PAGE_CSP, "{path}");
        }
        let page = header(&get(addr, "/").await, CONTENT_SECURITY_POLICY).to_owned();
        for directive in [
            "frame-ancestors 'none'",
            "script-src 'self'",
            "object-src 'none'",
        ] {
            assert!(page.contains(directive), "{page}");
        }
        let r = get(addr, &format!("/{chart}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            header(&r, CONTENT_SECURITY_POLICY),
            routes::plots::CHART_CSP
        );
        assert_eq!(header(&r, X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(routes::plots::CHART_CSP.contains("sandbox"));
    }

    #[tokio::test]
    async fn with_a_listener_of_their_own_the_health_routes_leave_the_public_port() {
        let (public, _) = gateway(false).await;
        for path in ["/metrics", "/readyz", "/livez", "/healthz"] {
            assert_eq!(get(public, path).await.status(), 404, "{path}");
        }
        assert_eq!(get(public, "/").await.status(), 200);
        let (shared, _) = gateway(true).await;
        for path in ["/metrics", "/readyz", "/livez"] {
            assert_eq!(get(shared, path).await.status(), 200, "{path}");
        }
    }
}
