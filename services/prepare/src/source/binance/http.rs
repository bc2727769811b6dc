//! One request to Binance under its rules: waits out `Retry-After` on 429/418 (up to a
//! bound), retries 5xx, timeouts and failed connections with jittered exponential
//! backoff, holds every request of the process when the minute's used weight nears the
//! budget, and turns Binance's error codes into errors that say what to do.

use std::time::Duration;

use bytes::Bytes;
use waveplot_protocol::{Interval, Symbol};

use super::{Binance, BinanceError};

/// What one attempt came to.
enum Attempt {
    /// 2xx, with the used weight of the minute if Binance reported it.
    Done(Bytes, Option<u64>),
    /// 429 or 418, with `Retry-After` in seconds if given.
    RateLimited(u16, Option<u64>),
    /// Worth retrying: 5xx, a timeout, a failed connection.
    Transient(String),
    /// A final refusal (4xx), with the body.
    Refused(u16, Bytes),
}

impl Binance {
    /// `GET base + request` (a path with its query), with retries; the symbol and
    /// interval name what an error code refers to.
    pub(super) async fn get(
        &self,
        request: &str,
        symbol: &Symbol,
        interval: Option<Interval>,
    ) -> Result<Bytes, BinanceError> {
        let url = format!("{}{request}", self.base);
        let (mut faults, mut waits) = (0, 0);
        loop {
            self.wait_out_block(request).await?;
            match self.attempt(&url).await {
                Attempt::Done(body, weight) => {
                    self.pace(weight);
                    return Ok(body);
                }
                Attempt::RateLimited(status, retry_after) => {
                    waits += 1;
                    let wait = self.rate_limit_wait(status, retry_after, waits, request);
                    self.block_for(match &wait {
                        Ok(wait) => *wait,
                        Err(_) => retry_after.map_or(self.policy.backoff, Duration::from_secs),
                    });
                    let wait = wait?;
                    tracing::warn!(
                        status,
                        ?wait,
                        request,
                        "Binance rate limit; waiting as asked"
                    );
                }
                Attempt::Transient(last) => {
                    faults += 1;
                    if faults > self.policy.retries {
                        return Err(BinanceError::Unavailable {
                            request: request.to_owned(),
                            attempts: faults,
                            last,
                        });
                    }
                    let wait = self.backoff(faults);
                    tracing::warn!(%last, ?wait, request, "Binance request failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                Attempt::Refused(status, body) => {
                    return Err(self.refusal(status, &body, request, symbol, interval));
                }
            }
        }
    }

    async fn attempt(&self, url: &str) -> Attempt {
        let response = match self.http.get(url).send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Transient(self.describe(&e)),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            let value = response.headers().get(name)?.to_str().ok()?;
            value.trim().parse::<u64>().ok()
        };
        let (weight, retry_after) = (header("x-mbx-used-weight-1m"), header("retry-after"));
        match status {
            429 | 418 => return Attempt::RateLimited(status, retry_after),
            500.. => return Attempt::Transient(format!("HTTP {status}")),
            _ => {}
        }
        match response.bytes().await {
            Ok(body) if (200..300).contains(&status) => Attempt::Done(body, weight),
            Ok(body) => Attempt::Refused(status, body),
            Err(e) => Attempt::Transient(self.describe(&e)),
        }
    }

    fn describe(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            format!("no answer within {:?}", self.policy.timeout)
        } else {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        }
    }

    /// Sends no request before the `Retry-After` last asked for has run out: waits for
    /// it, or gives up at once when more of it is left than this client waits.
    async fn wait_out_block(&self, request: &str) -> Result<(), BinanceError> {
        let until = *self
            .blocked_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(left) = until.and_then(|u| u.checked_duration_since(tokio::time::Instant::now()))
        else {
            return Ok(());
        };
        if left > self.policy.max_retry_after {
            return Err(BinanceError::RateLimited {
                status: 429,
                request: request.to_owned(),
                why: format!(
                    "Binance asked for a pause that has {} s to run, longer than the {} s this client waits",
                    left.as_secs(),
                    self.policy.max_retry_after.as_secs()
                ),
            });
        }
        tokio::time::sleep(left).await;
        Ok(())
    }

    /// Blocks every request of this client and its clones for `wait` from now (a later
    /// block already set stays).
    fn block_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut blocked = self
            .blocked_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *blocked = Some(blocked.map_or(until, |b| b.max(until)));
    }

    /// How long to wait before retrying a rate-limited request, or why to give up.
    fn rate_limit_wait(
        &self,
        status: u16,
        retry_after: Option<u64>,
        waits: u32,
        request: &str,
    ) -> Result<Duration, BinanceError> {
        let give_up = |why: String| BinanceError::RateLimited {
            status,
            request: request.to_owned(),
            why,
        };
        if waits > self.policy.rate_limit_waits {
            return Err(give_up(format!(
                "still limited after {} waits",
                self.policy.rate_limit_waits
            )));
        }
        // Without Retry-After, a short pause of our own choosing.
        let wait = retry_after.map_or(self.policy.backoff, Duration::from_secs);
        if wait > self.policy.max_retry_after {
            let what = if status == 418 {
                "IP banned"
            } else {
                "limited"
            };
            return Err(give_up(format!(
                "{what} for {} s, longer than the {} s this client waits",
                wait.as_secs(),
                self.policy.max_retry_after.as_secs()
            )));
        }
        Ok(wait)
    }

    /// The n-th backoff (n ≥ 1): doubling from the policy's first wait, ±50 % jitter so
    /// that replicas which failed together do not retry together.
    fn backoff(&self, n: u32) -> Duration {
        let base = self.policy.backoff * 2u32.saturating_pow(n.saturating_sub(1).min(16));
        base.mul_f64(0.5 + fastrand::f64())
    }

    /// Holds every request of the process until the next minute (Binance's weight
    /// window) when the used weight has reached the budget, so the client slows down
    /// before Binance limits it.
    fn pace(&self, used_weight: Option<u64>) {
        let Some(used) = used_weight.filter(|&w| w >= u64::from(self.policy.weight_budget)) else {
            return;
        };
        let into_minute = jiff::Timestamp::now().as_millisecond().rem_euclid(60_000);
        let to_next_minute = Duration::from_millis((60_000 - into_minute) as u64);
        let pause = to_next_minute.min(self.policy.max_pace);
        tracing::info!(
            used,
            budget = self.policy.weight_budget,
            ?pause,
            "Binance request weight near the limit; holding every request"
        );
        self.block_for(pause);
    }

    fn refusal(
        &self,
        status: u16,
        body: &[u8],
        request: &str,
        symbol: &Symbol,
        interval: Option<Interval>,
    ) -> BinanceError {
        #[derive(serde::Deserialize)]
        struct ApiError {
            code: i64,
            msg: String,
        }
        if status == 451 {
            return BinanceError::Restricted {
                base: self.base.clone(),
            };
        }
        let Ok(error) = serde_json::from_slice::<ApiError>(body) else {
            let text = String::from_utf8_lossy(body);
            return BinanceError::Malformed {
                request: request.to_owned(),
                problem: format!(
                    "HTTP {status} with a body that is not Binance's {{\"code\",\"msg\"}}: {}",
                    text.chars().take(200).collect::<String>()
                ),
            };
        };
        match (error.code, interval) {
            (-1121, _) => BinanceError::UnknownSymbol(symbol.to_string()),
            (-1120, Some(interval)) => BinanceError::InvalidInterval {
                interval,
                message: error.msg,
            },
            (code, _) => BinanceError::Refused {
                request: request.to_owned(),
                status,
                code,
                message: error.msg,
            },
        }
    }
}
