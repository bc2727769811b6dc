//! One render through the gateway's HTTP API, timed from the POST to the final status
//! (read from the Server-Sent Events stream, so no polling error is added).

use std::io::BufRead;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

/// What one render took and what it reported.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Wall-clock time from sending the request to the final status, ms.
    pub total_ms: f64,
    /// The final status (`complete`, `partial` or `failed`).
    pub state: String,
    /// The final status document.
    pub status: Value,
    /// How often the request was refused for now and sent again.
    pub retried: u32,
}

/// A blocking HTTP client for the gateway.
pub fn client() -> Result<reqwest::blocking::Client> {
    waveplot_testkit::http_client_builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
        .build()
        .context("HTTP client")
}

/// How often a request the gateway refused for now (503 with `Retry-After`: it runs
/// as many renders as it may) is sent again before the bench gives up.
const RETRIES: u32 = 60;

/// Sends `body` to `POST /api/render` and follows the render to its end. A refusal for
/// now is sent again after the `Retry-After` the gateway asked for, as a client
/// should; the wait counts in the render's time.
pub fn render(http: &reqwest::blocking::Client, url: &str, body: &Value) -> Result<Outcome> {
    let started = Instant::now();
    let mut retried = 0;
    let created: Value = loop {
        let res = http
            .post(format!("{url}/api/render"))
            .json(body)
            .send()
            .context("POST /api/render")?;
        let code = res.status();
        let wait = retry_after(&res);
        let answer: Value = res.json().context("render answer")?;
        match wait {
            Some(wait) if code == reqwest::StatusCode::SERVICE_UNAVAILABLE && retried < RETRIES => {
                retried += 1;
                std::thread::sleep(wait);
            }
            _ if code.is_success() => break answer,
            _ => bail!("HTTP {code}: {}", answer["error"]),
        }
    };
    let events = created["events_url"].as_str().context("events_url")?;
    let last = final_status(http, url, events)?;
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    let state = last["state"].as_str().unwrap_or("hung").to_owned();
    Ok(Outcome {
        total_ms,
        state,
        status: last,
        retried,
    })
}

/// Follows a render's events (`events`, its `events_url`) to the final status; `null`
/// if the stream ends before one.
pub fn final_status(http: &reqwest::blocking::Client, url: &str, events: &str) -> Result<Value> {
    let stream = http
        .get(format!("{url}{events}"))
        .send()
        .context("GET events")?;
    let mut last = Value::Null;
    for line in std::io::BufReader::new(stream).lines() {
        let line = line.context("read events")?;
        if let Some(data) = line.strip_prefix("data:") {
            last = serde_json::from_str(data.trim()).context("status event")?;
            if last["state"] != "running" {
                break;
            }
        }
    }
    Ok(last)
}

/// The wait a `Retry-After` header of whole seconds asks for.
fn retry_after(res: &reqwest::blocking::Response) -> Option<Duration> {
    let seconds = res.headers().get(reqwest::header::RETRY_AFTER)?;
    Some(Duration::from_secs(
        seconds.to_str().ok()?.trim().parse().ok()?,
    ))
}
