//! The HTTP server: the router on hyper's HTTP/1.1 connections, with the limits a server
//! left on a LAN needs, which `axum::serve` does not set.
//!
//! - At most [`Limits::max_connections`] connections are open; one more is answered
//!   `503` with `Retry-After` and closed, so a flood of idle sockets cannot use up the
//!   file descriptors.
//! - A client has [`Limits::header_timeout`] to send a request's headers, on a new
//!   connection and between requests on a kept-alive one (hyper starts the timer
//!   whenever it waits for a request head): a slow client that never finishes its headers
//!   is cut off, and so is an idle kept-alive connection. A response being streamed
//!   (Server-Sent Events) is not waiting for a head, so it is not cut.
//! - At shutdown the listener closes at once and open connections finish their current
//!   request; the caller bounds how long that may take.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (also the idle timeout of
    /// a kept-alive connection).
    pub header_timeout: Duration,
}

/// How long a refused connection gets to take its `503`.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` within `limits` until `shutdown`, then waits for the
/// open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or a connection reset while queued: wait
                    // a moment instead of spinning on the same error.
                    tracing::warn!(error = &e as &dyn std::error::Error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!("waveplot_gateway_connections_refused_total").increment(1);
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = &e as &dyn std::error::Error, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers a connection over the limit with a `503` that says why, and closes it.
async fn refuse(mut stream: TcpStream, limit: usize) {
    let body = format!(
        "{{\"error\":\"too many connections: this gateway serves at most {limit} at once (HTTP_MAX_CONNECTIONS); try again in a moment\"}}"
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let written = tokio::time::timeout(REFUSAL_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    if let Ok(Err(e)) = written {
        tracing::debug!(
            error = &e as &dyn std::error::Error,
            "could not refuse a connection"
        );
    }
}
