//! The faults, injected one after another into the running stack while the clients
//! load it (each once every client is sending again), and the checks that the system
//! recovered: every service ready again after each, garbage on every subject refused,
//! and afterwards the same processes running and fresh renders complete.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde_json::json;
use waveplot_protocol::{Message as _, PlotId, RenderReply, Stage, Subjects};
use waveplot_service::Bus;
use waveplot_testkit::{NatsUser, Role};

use super::classify::Class;
use super::follow::follow;
use super::forged::{unknown_major_recomputed, unknown_major_refused};
use super::load::{Shared, bodies};
use super::report::Check;
use super::settings::{ACCEPT, Settings};
use super::{PHASES, Warm};
use crate::stack::Stack;

/// The services the suite kills and starts again: a plotter, then prepare.
const KILLED: [Role; 2] = [Role::Plotter(PlotId::Bands), Role::Prepare];

/// Injects the faults one after another while the clients run.
pub(super) fn inject(
    stack: &mut Stack,
    settings: &Settings,
    shared: &Shared,
    http: &reqwest::blocking::Client,
    warm: &Warm,
    checks: &mut Vec<Check>,
) {
    // Each fault starts once every client is sending again (see
    // `until_every_client_is_sending`).
    let phase = |n: usize| {
        shared.until_every_client_is_sending();
        shared.phase.store(n, Ordering::Release);
    };
    std::thread::sleep(settings.baseline);

    phase(1);
    stack.system.nats.stop();
    std::thread::sleep(Duration::from_secs(1));
    stack.system.nats.restart();
    checks.push(ready_again(stack, PHASES[1]));
    std::thread::sleep(settings.settle);

    phase(2);
    stack.system.s3.stop();
    std::thread::sleep(Duration::from_secs(5));
    stack.system.s3.restart();
    checks.push(ready_again(stack, PHASES[2]));
    std::thread::sleep(settings.settle);

    for (phase_n, role) in [(3, KILLED[0]), (4, KILLED[1])] {
        phase(phase_n);
        stack.system.kill(role);
        std::thread::sleep(Duration::from_secs(1));
        stack.system.restart(role);
        checks.push(ready_again(stack, PHASES[phase_n]));
        std::thread::sleep(settings.settle);
    }

    phase(5);
    checks.push(check("garbage published on every subject", || {
        stack.runtime.block_on(garbage(stack, &warm.key))
    }));
    checks.push(ready_again(stack, PHASES[5]));
    std::thread::sleep(settings.settle);

    phase(6);
    checks.push(check(
        "a stored blob of an unknown major version is recomputed by prepare",
        || unknown_major_recomputed(stack, shared, http, warm),
    ));
    checks.push(check(
        "every plotter fails a prepared event of an unknown major version with a reason",
        || stack.runtime.block_on(unknown_major_refused(stack, warm)),
    ));
    std::thread::sleep(settings.settle);

    phase(7);
    checks.push(rate_limited(stack, settings, shared, http));
    std::thread::sleep(settings.settle);
    phase(8);
}

/// Has the fake Binance answer 429 for a while, sends a Binance render into it, and
/// checks that prepare was rate-limited.
fn rate_limited(
    stack: &Stack,
    settings: &Settings,
    shared: &Shared,
    http: &reqwest::blocking::Client,
) -> Check {
    stack.binance.rate_limit_for(settings.rate_limit, 1);
    let body = json!({"symbol": "BTCUSDT", "interval": "5m", "source": "binance", "window": 400});
    let (class, _) = follow(http, shared, &shared.unique(&body));
    shared.record(7, class);
    std::thread::sleep(settings.rate_limit.saturating_sub(Duration::from_secs(1)));
    let limited = stack.binance.rate_limited();
    Check {
        what: "the fake Binance rate-limited prepare".into(),
        ok: limited > 0,
        detail: format!("{limited} requests answered 429 with Retry-After"),
    }
}

/// A check from a fallible step: its error is the detail.
fn check(what: &str, step: impl FnOnce() -> Result<String>) -> Check {
    let (ok, detail) = match step() {
        Ok(detail) => (true, detail),
        Err(e) => (false, format!("{e:#}")),
    };
    Check {
        what: what.to_owned(),
        ok,
        detail,
    }
}

/// Waits up to 30 s until every service answers `/readyz`.
fn ready_again(stack: &Stack, after: &str) -> Check {
    let started = Instant::now();
    let limit = Duration::from_secs(30);
    let mut waiting: Vec<String>;
    loop {
        waiting = stack
            .system
            .services()
            .filter(|(_, s)| !s.is_ready())
            .map(|(role, _)| role.to_string())
            .collect();
        if waiting.is_empty() || started.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Check {
        what: format!("every service ready again after: {after}"),
        ok: waiting.is_empty(),
        detail: if waiting.is_empty() {
            format!("after {:.1} s", started.elapsed().as_secs_f64())
        } else {
            format!("not ready after {limit:?}: {}", waiting.join(", "))
        },
    }
}

/// `n` bytes of seeded noise, so runs are repeatable.
fn noise(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d).fill(&mut bytes);
    bytes
}

/// Every subject the services listen or publish on, each with the NATS user allowed
/// to publish on it.
fn subjects(s: &Subjects) -> Vec<(String, NatsUser)> {
    let mut subjects = vec![
        (s.render(), NatsUser::Gateway),
        (
            format!("{}.prepared.BTCUSDT.5m", s.prefix()),
            NatsUser::Prepare,
        ),
        (
            format!("{}.prepared.ETHUSDT.1h", s.prefix()),
            NatsUser::Prepare,
        ),
    ];
    subjects.extend(PlotId::ALL.iter().map(|p| (s.done(*p), NatsUser::Plotter)));
    subjects.extend([
        (s.failed(Stage::Gateway), NatsUser::Gateway),
        (s.failed(Stage::Prepare), NatsUser::Prepare),
        (s.failed(Stage::Plot), NatsUser::Plotter),
    ]);
    subjects
}

/// A client of the stack's bus logged in as `user`.
async fn client(stack: &Stack, user: NatsUser) -> Result<Bus> {
    let nats = &stack.system.nats;
    let login = nats.login(user);
    Ok(Bus::connect(&nats.url(), login.as_ref(), "waveplot-bench-faults").await?)
}

/// The noise message: as large as the server's `max_payload` (128 KiB) takes.
const NOISE_BYTES: usize = 130_000;

/// Publishes 130 kB of noise, a truncated blob and a truncated event on every subject,
/// each as the user allowed to publish there (a vandal who took over a service), and
/// sends a garbage render request, which prepare must refuse.
async fn garbage(stack: &Stack, blob_key: &str) -> Result<String> {
    let store = stack.system.store().await?;
    let blob = store
        .get(blob_key)
        .await?
        .context("the warm-up blob is not in the store")?;
    let event = serde_json::to_vec(&json!({"v": 1, "request_id": "garbage", "key": blob_key}))?;
    let big = noise(NOISE_BYTES);
    let payloads: [&[u8]; 3] = [&big, &blob[..blob.len() / 2], &event[..event.len() / 2]];
    let s = Subjects::default();
    let subjects = subjects(&s);
    for (subject, user) in &subjects {
        let bus = client(stack, *user).await?;
        // Each with its own message ID: the event stream drops a repeated one.
        for (i, payload) in payloads.iter().enumerate() {
            let payload = bytes::Bytes::copy_from_slice(payload);
            bus.publish(subject.clone(), payload, &format!("{subject}-{i}"))
                .await?;
        }
        bus.flush().await?;
    }
    let reply = client(stack, NatsUser::Gateway)
        .await?
        .request(
            s.render(),
            bytes::Bytes::copy_from_slice(payloads[1]),
            ACCEPT,
        )
        .await
        .context("a garbage render request got no answer")?;
    let refusal = match RenderReply::decode(&reply)? {
        RenderReply::Rejected { error, .. } => error,
        RenderReply::Accepted { .. } => anyhow::bail!("a garbage render request was accepted"),
    };
    Ok(format!(
        "{} payloads on {} subjects; a garbage request was refused: {}",
        payloads.len() * subjects.len(),
        subjects.len(),
        refusal.chars().take(80).collect::<String>()
    ))
}

/// After the faults: the same processes (but the restarted plotter) run and are ready,
/// and a fresh render from each kind of source completes with all six charts. Returns
/// the ID of the last fresh render the gateway answered for, one it still knows: it
/// keeps a bounded number of renders, forgetting the oldest finished first, and the
/// load may have sent more than that since the warm-up.
pub(super) fn recover(
    stack: &mut Stack,
    pids: &[(Role, Option<u32>)],
    shared: &Shared,
    http: &reqwest::blocking::Client,
    checks: &mut Vec<Check>,
) -> Option<String> {
    checks.push(ready_again(stack, "the whole suite"));
    checks.push(same_processes(stack, pids));
    let mut fresh = Vec::new();
    let mut last = None;
    for body in [0, 3, 4].map(|i| bodies()[i].clone()) {
        let (class, status) = follow(http, shared, &shared.unique(&body));
        shared.record(8, class.clone());
        last = status["id"].as_str().map(str::to_owned).or(last);
        fresh.push((body["source"].as_str().unwrap_or("?").to_owned(), class));
    }
    let all = fresh.iter().all(|(_, c)| matches!(c, Class::Complete));
    checks.push(Check {
        what: "fresh renders after the faults complete with six charts".into(),
        ok: all,
        detail: fresh
            .iter()
            .map(|(s, c)| format!("{s}: {c:?}"))
            .collect::<Vec<_>>()
            .join(", "),
    });
    last
}

/// Checks that every service but the killed ones still runs with the PID it had.
fn same_processes(stack: &mut Stack, pids: &[(Role, Option<u32>)]) -> Check {
    let mut changed = Vec::new();
    for (role, pid) in pids {
        let service = stack.system.service_mut(*role);
        let same = KILLED.contains(role) || service.pid() == *pid;
        if !same || !service.is_running() {
            changed.push(role.to_string());
        }
    }
    Check {
        what: "no service but the killed plotter and prepare was restarted or exited".into(),
        ok: changed.is_empty(),
        detail: if changed.is_empty() {
            format!("{} services kept their PIDs", pids.len() - KILLED.len())
        } else {
            format!("restarted or gone: {}", changed.join(", "))
        },
    }
}
