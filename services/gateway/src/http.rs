//! The HTTP server: the router on hyper's HTTP/1.1 connections, with the limits a server
//! left on a LAN needs, which `axum::serve` does not set.
//!
//! - At most [`Limits::max_connections`] connections are open; one more is answered
//!   `503` with `Retry-After` and closed, so a flood of idle sockets cannot use up the
//!   file descriptors.
//! - At most [`Limits::max_per_client`] of them come from one client ([`client`]: an
//!   IPv4 address, or an IPv6 /64, the block one host is usually given), answered the
//!   same way past it, so one host on the LAN cannot hold every slot and lock the others
//!   out. Behind a reverse proxy every connection comes from the proxy's address: raise
//!   the limit to the whole there. No header (`X-Forwarded-For`) is trusted for this: a
//!   client could name any address in it.
//! - A client has [`Limits::header_timeout`] to send a request's headers, on a new
//!   connection and between requests on a kept-alive one (hyper starts the timer
//!   whenever it waits for a request head): a slow client that never finishes its headers
//!   is cut off, and so is an idle kept-alive connection. A response being streamed
//!   (Server-Sent Events) is not waiting for a head, so it is not cut.
//! - At shutdown the listener closes at once and open connections finish their current
//!   request; the caller bounds how long that may take.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
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
    /// Most connections open at once from one client ([`client`]).
    pub max_per_client: usize,
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
    let clients = Arc::new(Clients::default());
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
            let why = format!(
                "this gateway serves at most {} at once (HTTP_MAX_CONNECTIONS)",
                limits.max_connections
            );
            tokio::spawn(refuse(stream, why));
            continue;
        };
        let Some(slot) = Clients::take(&clients, client(peer.ip()), limits.max_per_client) else {
            metrics::counter!("waveplot_gateway_connections_refused_total").increment(1);
            let why = format!(
                "this gateway serves at most {} at once from one address (HTTP_MAX_CONNECTIONS_PER_ADDRESS)",
                limits.max_per_client
            );
            tokio::spawn(refuse(stream, why));
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = &e as &dyn std::error::Error, "connection ended");
            }
            drop((slot, permit));
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The client a connection from `peer` counts for: an IPv4 address (an IPv4-mapped
/// IPv6 address as its IPv4 one), or the /64 an IPv6 address is in: a host is usually
/// given a whole /64, so counting its addresses one by one would not bound it.
pub fn client(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// The connections open per client. It holds only clients with a connection open, so
/// it has at most [`Limits::max_connections`] entries.
#[derive(Debug, Default)]
struct Clients {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl Clients {
    /// A slot for one more connection from `client`, unless it has `limit` open.
    fn take(clients: &Arc<Self>, client: IpAddr, limit: usize) -> Option<ClientSlot> {
        let mut open = clients.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(client).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: clients.clone(),
            client,
        })
    }
}

/// One open connection of a client, given back when dropped.
#[derive(Debug)]
struct ClientSlot {
    clients: Arc<Clients>,
    client: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Answers a connection over a limit with a `503` that says which (`why`), and closes
/// it.
async fn refuse(mut stream: TcpStream, why: String) {
    let body = format!("{{\"error\":\"too many connections: {why}; try again in a moment\"}}");
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn an_ipv6_host_counts_as_its_64_and_a_mapped_ipv4_one_as_its_ipv4_address() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 7));
        assert_eq!(client(v4), v4);
        let mapped: IpAddr = "::ffff:192.168.1.7".parse().unwrap();
        assert_eq!(client(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let next: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_eq!(client(a), client(b));
        assert_ne!(client(a), client(next));
    }

    #[test]
    fn a_client_s_slots_are_bounded_given_back_and_forgotten_when_all_are_back() {
        let clients = Arc::new(Clients::default());
        let (one, two) = (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        let first = Clients::take(&clients, one, 2).unwrap();
        let second = Clients::take(&clients, one, 2).unwrap();
        assert!(Clients::take(&clients, one, 2).is_none());
        let other = Clients::take(&clients, two, 2).unwrap();
        drop(first);
        let third = Clients::take(&clients, one, 2).unwrap();
        drop((second, third, other));
        assert!(clients.open.lock().unwrap().is_empty());
    }
}
