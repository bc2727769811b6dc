//! How hard and how long the fault suite pushes: the load's size, the render deadline
//! the stack runs with, the pauses between faults, and from these the latest moment a
//! request's final state may come before it counts as hung.

use std::time::Duration;

/// How long the gateway waits for prepare to accept a request (its `ACCEPT_TIMEOUT`).
pub(super) const ACCEPT: Duration = Duration::from_secs(5);
/// Beyond the render deadline (and the acceptance wait), a request counts as hung.
const MARGIN: Duration = Duration::from_secs(10);

/// How hard and how long the suite pushes.
pub(super) struct Settings {
    /// Concurrent clients.
    pub(super) clients: usize,
    /// The render deadline the stack runs with, s.
    pub(super) deadline_s: u64,
    /// Load before the first fault.
    pub(super) baseline: Duration,
    /// Load after each fault, before the next one.
    pub(super) settle: Duration,
    /// How long the fake Binance rate-limits.
    pub(super) rate_limit: Duration,
    /// Candles in the synthetic klines file.
    pub(super) synthetic: usize,
}

impl Settings {
    /// The quick settings (for CI) or the full ones.
    pub(super) fn new(quick: bool) -> Self {
        if quick {
            Self {
                clients: 3,
                deadline_s: 10,
                baseline: Duration::from_secs(2),
                settle: Duration::from_secs(2),
                rate_limit: Duration::from_secs(4),
                synthetic: 20_000,
            }
        } else {
            Self {
                clients: 8,
                deadline_s: 20,
                baseline: Duration::from_secs(5),
                settle: Duration::from_secs(4),
                rate_limit: Duration::from_secs(6),
                synthetic: 20_000,
            }
        }
    }

    /// From sending a request to the latest moment its final state may come.
    pub(super) fn limit(&self) -> Duration {
        ACCEPT + Duration::from_secs(self.deadline_s) + MARGIN
    }
}
