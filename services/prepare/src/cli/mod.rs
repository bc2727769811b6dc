//! The one-shot commands of the `prepare` binary: `prepare analyze` (candles → blob
//! and JSON export) and `prepare fetch` (candles → klines CSV), and the candle loading
//! they share. The service does not use them.

pub mod analyze;
pub mod fetch;
