//! waveplot's prepare service: candles in, analysis blob out.
//!
//! # Layout
//!
//! - [`backend`]: the compute backend (Vulkan pass or CPU reference), chosen once.
//! - [`config`]: flags and environment variables of the `prepare` binary.
//! - [`service`]: the bus service (render requests → blob → `prepared` event).
//! - [`live`]: following watched pairs on Binance's kline streams; market events.
//! - [`retention`]: the store's bounds by age and bytes, swept by the service.
//! - `source`: where candles come from (Binance, bundled sample, klines files) and the
//!   candle cache.
//! - `analysis`: a window of candles → the wavelet library → the wire blob.
//! - `scenes`: the charts of a large window recorded as scenes for the plotters.
//! - [`cli`]: the one-shot commands, `prepare analyze` and `prepare fetch`.
//! - `export`: the JSON export of an analysis.
//! - [`parse_klines`]: a klines file's bytes → candles, for tools and the fuzzers.

mod analysis;
pub mod backend;
pub mod cli;
pub mod config;
mod export;
pub mod live;
pub mod retention;
mod scenes;
pub mod service;
mod source;

/// Parses the bytes of a klines file exactly as `file:NAME` sources and
/// `prepare analyze --input` read one: Binance's 12-column CSV, with or without a header
/// line, times in ms or µs, plain or inside a data.binance.vision `.zip`; every row is
/// checked, and the spacing of the open times must match `interval`. Malformed input is
/// an error naming the line and the problem, never a panic.
pub fn parse_klines(
    bytes: &[u8],
    interval: waveplot_protocol::Interval,
) -> anyhow::Result<waveplot_protocol::blob::Candles> {
    Ok(source::file::read_bytes(bytes, "klines file", interval)?.candles)
}
