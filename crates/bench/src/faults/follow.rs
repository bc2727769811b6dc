//! Following one render over HTTP: `POST /api/render`, then its status JSON polled until
//! it is no longer running or the suite's limit passes, and the outcome classified.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::classify::{Class, classify};
use super::load::Shared;

/// Sends one render and polls its status JSON until it ends or the limit passes.
pub(super) fn follow(
    http: &reqwest::blocking::Client,
    shared: &Shared,
    body: &Value,
) -> (Class, Value) {
    let sent = Instant::now();
    match post(http, shared, body) {
        Ok((status_url, created)) => poll(http, shared, sent, &status_url, &created),
        Err(ended) => ended,
    }
}

/// Sends the render: its status URL and creation answer, or how it already ended.
fn post(
    http: &reqwest::blocking::Client,
    shared: &Shared,
    body: &Value,
) -> Result<(String, Value), (Class, Value)> {
    let res = match http
        .post(format!("{}/api/render", shared.url))
        .json(body)
        .send()
    {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err((Class::Hung(format!("POST: {e}")), Value::Null)),
        Err(e) => return Err((Class::Unexplained(format!("POST: {e}")), Value::Null)),
    };
    let code = res.status();
    let created: Value = res
        .json()
        .map_err(|e| (Class::Unexplained(format!("HTTP {code}: {e}")), Value::Null))?;
    if !code.is_success() {
        let error = created["error"].as_str().unwrap_or_default();
        return Err(if error.trim().is_empty() {
            (
                Class::Unexplained(format!("HTTP {code} without an error: {created}")),
                created,
            )
        } else {
            (Class::Refused(format!("HTTP {code}: {error}")), created)
        });
    }
    match created["status_url"].as_str() {
        Some(url) => Ok((url.to_owned(), created)),
        None => Err((
            Class::Unexplained(format!("no status_url: {created}")),
            created,
        )),
    }
}

/// Polls `status_url` until the render is no longer running, or it is hung once the
/// limit since `sent` passes.
fn poll(
    http: &reqwest::blocking::Client,
    shared: &Shared,
    sent: Instant,
    status_url: &str,
    created: &Value,
) -> (Class, Value) {
    let mut last = Value::Null;
    while sent.elapsed() < shared.limit {
        if let Ok(st) = http
            .get(format!("{}{status_url}", shared.url))
            .send()
            .and_then(reqwest::blocking::Response::json::<Value>)
        {
            if st["state"] != "running" {
                return (classify(&st), st);
            }
            last = st;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let pending: Vec<&String> = last["plots"]
        .as_object()
        .map(|p| {
            p.iter()
                .filter(|(_, s)| s["state"] == "pending")
                .map(|(k, _)| k)
                .collect()
        })
        .unwrap_or_default();
    (
        Class::Hung(format!(
            "{} still running after {:?} (pending {pending:?}, prepared: {})",
            created["id"],
            shared.limit,
            !last["prepared"].is_null()
        )),
        last,
    )
}
