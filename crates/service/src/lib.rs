//! What the waveplot services share: their flags, their life from `main` to exit, the
//! serve loop of the bus services, and the clients of the bus and the store.
//!
//! # Layout
//!
//! - [`args`]: [`ServiceArgs`], the flags every service flattens into its own (bus,
//!   store, logs, health endpoint, grace period), each with its environment twin.
//! - [`lifecycle`]: [`run`] takes a service from `main` to exit: runtime, connections,
//!   health endpoint, signals, a shutdown bounded by the grace period.
//! - [`serve`](mod@serve): the [`Handler`] trait and the one serve loop that drives it (work
//!   slots, typed events, `failed` events with the cause chain).
//! - [`bus`]: the message bus, NATS or in-process, behind one [`Bus`] type.
//! - [`store`]: the object store (S3, a directory or memory) behind one [`Store`] type.
//! - [`discovery`]: answers the NATS service API (`nats micro ls`) for each instance.
//! - [`health`]: `/livez`, `/readyz`, `/metrics` and the `--healthcheck` probe.
//! - [`shutdown`]: SIGTERM/Ctrl-C to a cancellation token.
//! - [`Context`]: the bus, store and subjects a running service uses.

pub mod args;
pub mod bus;
pub mod discovery;
pub mod health;
pub mod lifecycle;
pub mod serve;
pub mod shutdown;
pub mod store;

use waveplot_protocol::Subjects;

pub use args::{BusArgs, LogArgs, LogFormat, ServiceArgs, StoreArgs};
pub use bus::{Bus, BusError, NatsLogin};
pub use discovery::Discovery;
pub use lifecycle::{run, run_with};
pub use serve::{Capacity, Failure, Handler, Subscription, serve};
pub use store::{Listed, Store, StoreError, Suffix};

/// What a running service talks to: the bus, the store, and the subject names.
#[derive(Debug, Clone)]
pub struct Context {
    /// The message bus.
    pub bus: Bus,
    /// The object store.
    pub store: Store,
    /// Subject names under the configured prefix.
    pub subjects: Subjects,
    /// This instance in the NATS service API; serve loops register their endpoints.
    pub discovery: Discovery,
}

impl Context {
    /// A context over the in-process bus and an in-memory store, with the default
    /// subjects: for the single-process mode's tests and for fast handler tests.
    pub fn in_process() -> Self {
        Self {
            bus: Bus::Local(bus::LocalBus::new()),
            store: Store::memory(),
            subjects: Subjects::default(),
            discovery: Discovery::new("in-process", "", waveplot_protocol::subject::DEFAULT_PREFIX),
        }
    }
}
