//! The small HTTP endpoint every service exposes for its operators: `/livez` (the
//! process runs), `/readyz` (NATS connected and the store answering; `/healthz` is an
//! alias) and `/metrics` (Prometheus text). Compose healthchecks call it through the
//! binary's own `--healthcheck` flag, since the images carry no curl.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

use crate::{Bus, Store};

/// What readiness depends on.
#[derive(Debug, Clone)]
pub struct Readiness {
    bus: Bus,
    store: Store,
    serving: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Readiness {
    /// Readiness of a service using `bus` and `store`; not ready until [`Readiness::serving`].
    pub fn new(bus: Bus, store: Store) -> Self {
        Self {
            bus,
            store,
            serving: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// Marks the service as taking work (its subscriptions are registered).
    pub fn serving(&self) {
        self.serving.send_replace(true);
    }

    /// True once [`Readiness::serving`] was called.
    pub fn is_serving(&self) -> bool {
        *self.serving.borrow()
    }

    /// Returns once [`Readiness::serving`] was called.
    pub async fn wait_serving(&self) {
        let mut serving = self.serving.subscribe();
        // The sender lives in `self`, so the wait ends only by the value.
        let _ = serving.wait_for(|s| *s).await;
    }

    /// `Ok` when the service takes work, the bus is connected and the store answers;
    /// otherwise what is wrong.
    pub async fn check(&self) -> Result<(), String> {
        if !self.is_serving() {
            return Err("not serving yet".into());
        }
        if !self.bus.is_connected() {
            return Err("not connected to NATS".into());
        }
        match tokio::time::timeout(Duration::from_secs(3), self.store.check()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("{:#}", anyhow::Error::new(e))),
            Err(_) => Err(format!(
                "{} did not answer within 3 s",
                self.store.describe()
            )),
        }
    }
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, which this crate never does.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The health routes, for services to serve alone or merge into their own router.
pub fn routes(readiness: Readiness) -> Router {
    let handle = metrics_handle();
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/healthz", get(ready))
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .with_state(readiness)
}

async fn ready(State(r): State<Readiness>) -> (StatusCode, String) {
    match r.check().await {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Serves the health routes on `addr` until `shutdown`; returns the bound address
/// (port 0 picks a free one) and the server task.
pub async fn serve(
    addr: SocketAddr,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = routes(readiness);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "health endpoint failed");
        }
    });
    Ok((bound, task))
}

/// `--healthcheck`: GETs `http://ADDR/readyz` (0.0.0.0 becomes 127.0.0.1) and returns
/// whether it answered 200. For container healthchecks in images without curl.
pub fn probe(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let target = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(2))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /readyz HTTP/1.0\r\nHost: {target}\r\n\r\n");
    let mut response = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.split_whitespace().nth(1) == Some("200")
}
