//! waveplot's prepare service: candles in, analysis blob out.
//!
//! # Layout
//!
//! - [`backend`]: the compute backend (Vulkan pass or CPU reference), chosen once.
//! - [`config`]: flags and environment variables of the `prepare` binary.
//! - [`service`]: the bus service (render requests → blob → `prepared` event).
//! - `source`: where candles come from (Binance, bundled sample, klines files) and the
//!   candle cache.
//! - `analysis`: a window of candles → the wavelet library → the wire blob.
//! - `analyze`: the one-shot `prepare analyze` command.
//! - `fetch`: `prepare fetch`, and candle loading for the command line.
//! - `export`: the JSON export of an analysis.

mod analysis;
pub mod analyze;
pub mod backend;
pub mod config;
mod export;
pub mod fetch;
pub mod service;
mod source;
