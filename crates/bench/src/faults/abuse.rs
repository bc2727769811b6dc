//! The abuse phase: what a hostile or careless client sends the gateway directly.
//! Oversized, malformed and duplicate-key bodies must be refused with a reason; a
//! thousand clients from one address opening the event stream of a finished render must
//! each get its final status (or a 503 naming a connection limit) and a closed
//! connection, while a client from another address is still served; clients
//! that never finish their headers must be cut off at the header timeout. Nothing may
//! hang, and the gateway's open file descriptors and memory must come back to where they
//! were.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use waveplot_testkit::Role;

use super::report::Check;
use crate::stack::Stack;

/// Event-stream clients on a finished render.
const STREAM_CLIENTS: usize = 1000;
/// Clients that send half a request head and then nothing.
const SLOW_CLIENTS: usize = 50;
/// How long every abusive connection gets to be answered or closed.
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs the abuse against the stack's gateway, with `finished` the ID of a render that
/// has ended, and records the checks.
pub(super) fn abuse(stack: &Stack, finished: &str, checks: &mut Vec<Check>) {
    let gateway = stack.system.service(Role::Gateway);
    let pid = gateway.pid();
    let before = (pid.and_then(open_fds), pid.and_then(rss_kib));
    let addr = stack.system.http().trim_start_matches("http://").to_owned();
    bodies(&addr, checks);
    streams(&addr, finished, checks);
    slow(&addr, checks);
    settle(pid, before, checks);
}

/// Sends `request` on a new connection and reads the answer until the server closes it
/// (or [`PATIENCE`] passes: `None`).
fn exchange(addr: &str, request: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    stream.write_all(request).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

fn post(body: &str) -> Vec<u8> {
    format!(
        "POST /api/render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Oversized, malformed and duplicate-key bodies: each a 4xx whose error says why.
fn bodies(addr: &str, checks: &mut Vec<Check>) {
    let padding = " ".repeat(20_000);
    let cases = [
        (
            "oversized",
            format!(r#"{{"symbol":"BTC",{padding}"interval":"5m"}}"#),
            "413",
            "bytes",
        ),
        (
            "malformed",
            r#"{"symbol": "BTC", "interval": "#.to_owned(),
            "400",
            "error",
        ),
        (
            "duplicate key",
            r#"{"symbol":"BTC","symbol":"ETH","interval":"5m"}"#.to_owned(),
            "400",
            "duplicate field",
        ),
        (
            "unknown field",
            r#"{"symbol":"BTC","interval":"5m","windows":5}"#.to_owned(),
            "400",
            "unknown field",
        ),
        (
            "huge window",
            r#"{"symbol":"BTC","interval":"5m","window":4000000000}"#.to_owned(),
            "400",
            "window",
        ),
    ];
    for (what, body, status, says) in cases {
        let answer = exchange(addr, &post(&body)).unwrap_or_default();
        let head = answer.lines().next().unwrap_or("no answer").to_owned();
        let ok = head.contains(status) && answer.contains(says);
        checks.push(Check {
            what: format!("a {what} request body is refused with a reason"),
            ok,
            detail: format!("{head}: {}", answer.rsplit("\r\n\r\n").next().unwrap_or("")),
        });
    }
}

/// `GET /api/meta` to the gateway at `addr` from another loopback address than the
/// abusive clients', as another host of the LAN would send it: its answer's first line.
fn meta_from_another_address(addr: &str) -> std::io::Result<String> {
    let to: SocketAddr = addr.parse().map_err(std::io::Error::other)?;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 0)).into())?;
    socket.connect_timeout(&to.into(), PATIENCE)?;
    let mut stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.write_all(b"GET /api/meta HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    Ok(answer.lines().next().unwrap_or("no answer").to_owned())
}

/// A thousand event-stream clients on a finished render: every one answered and closed;
/// while they are open, a client from another address is served.
fn streams(addr: &str, finished: &str, checks: &mut Vec<Check>) {
    let request = format!(
        "GET /api/render/{finished}/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    );
    let started = Instant::now();
    let mut open = Vec::with_capacity(STREAM_CLIENTS);
    let mut unconnected = 0;
    for _ in 0..STREAM_CLIENTS {
        let sent =
            TcpStream::connect(addr).and_then(|mut s| s.write_all(request.as_bytes()).map(|()| s));
        match sent {
            Ok(s) => open.push(s),
            Err(_) => unconnected += 1,
        }
    }
    let other = meta_from_another_address(addr);
    checks.push(Check {
        what: "another address is served while one holds its connections".to_owned(),
        ok: other.as_ref().is_ok_and(|head| head.contains(" 200")),
        detail: match other {
            Ok(head) => head,
            Err(e) => e.to_string(),
        },
    });
    let (mut streamed, mut refused, mut hung) = (0, 0, 0);
    for mut s in open {
        let left = PATIENCE
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        let _ = s.set_read_timeout(Some(left));
        let mut answer = Vec::new();
        match s.read_to_end(&mut answer) {
            Ok(_) => {
                let text = String::from_utf8_lossy(&answer);
                if text.starts_with("HTTP/1.1 200") && text.contains("event: status") {
                    streamed += 1;
                } else if text.starts_with("HTTP/1.1 503") && text.contains("HTTP_MAX_CONNECTIONS")
                {
                    refused += 1;
                } else {
                    hung += 1;
                }
            }
            Err(_) => hung += 1,
        }
    }
    checks.push(Check {
        what: format!("{STREAM_CLIENTS} event streams of a finished render end or are refused with a reason"),
        ok: hung == 0 && streamed > 0 && streamed + refused + unconnected == STREAM_CLIENTS,
        detail: format!(
            "{streamed} got the final status and the end of the stream, {refused} a 503 naming a connection limit, {unconnected} could not connect, {hung} neither, in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
    });
}

/// Clients that never finish their headers are cut off.
fn slow(addr: &str, checks: &mut Vec<Check>) {
    let started = Instant::now();
    let clients: Vec<TcpStream> = (0..SLOW_CLIENTS)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            s.write_all(b"GET /api/meta HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .ok()?;
            Some(s)
        })
        .collect();
    let connected = clients.len();
    let mut closed = 0;
    for mut s in clients {
        let left = PATIENCE
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        let _ = s.set_read_timeout(Some(left));
        let mut rest = Vec::new();
        if s.read_to_end(&mut rest).is_ok() {
            closed += 1;
        }
    }
    checks.push(Check {
        what: format!("{SLOW_CLIENTS} clients that never finish their headers are cut off"),
        ok: closed == connected && connected > 0,
        detail: format!(
            "{closed} of {connected} closed by the gateway within {:.1} s",
            started.elapsed().as_secs_f64()
        ),
    });
}

/// The gateway's descriptors and memory come back to where they were.
fn settle(pid: Option<u32>, (fds, rss): (Option<usize>, Option<u64>), checks: &mut Vec<Check>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let now = loop {
        let now = (pid.and_then(open_fds), pid.and_then(rss_kib));
        let settled = matches!((fds, now.0), (Some(a), Some(b)) if b <= a + 4);
        if settled || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let fds_ok = matches!((fds, now.0), (Some(a), Some(b)) if b <= a + 4);
    checks.push(Check {
        what: "the gateway's open file descriptors return to their baseline".into(),
        ok: fds_ok,
        detail: format!("before {fds:?}, after {:?}", now.0),
    });
    let rss_ok = matches!((rss, now.1), (Some(a), Some(b)) if b <= a + 32 * 1024);
    checks.push(Check {
        what: "the gateway's memory returns to within 32 MiB of its baseline".into(),
        ok: rss_ok,
        detail: format!(
            "RSS before {} MiB, after {} MiB",
            rss.map_or(0, |k| k / 1024),
            now.1.map_or(0, |k| k / 1024)
        ),
    });
}

fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
