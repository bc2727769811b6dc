//! Candles written back out as a klines CSV in the project's layout (a header line, then
//! Binance's 12 columns, times in ms): what `prepare fetch` writes and what the candle
//! cache stores, so both read back through the same checked parser as any other file.

use std::fmt::Write as _;

use waveplot_protocol::blob::Candles;

/// The header line of the project's klines CSV layout.
pub(crate) const HEADER: &str = "open_time_ms,open,high,low,close,volume,close_time_ms,quote_volume,trades,taker_buy_base,taker_buy_quote,ignore";

/// The candles as CSV bytes. Numbers are written in their shortest form that reads back
/// to the same f64 (`24305.24` for Binance's `"24305.24000000"`), so nothing is rounded.
pub(crate) fn csv(c: &Candles) -> Vec<u8> {
    let mut out = String::with_capacity(c.len() * 120 + HEADER.len() + 1);
    out.push_str(HEADER);
    out.push('\n');
    for i in 0..c.len() {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},0",
            c.open_time_ms[i],
            c.open[i],
            c.high[i],
            c.low[i],
            c.close[i],
            c.volume[i],
            c.close_time_ms[i],
            c.quote_volume[i],
            c.trades[i],
            c.taker_buy_base[i],
            c.taker_buy_quote[i],
        );
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{file, sample};
    use waveplot_protocol::{Interval, Symbol};

    #[test]
    fn written_candles_read_back_identical() {
        let sample = sample::candles(&Symbol::parse("BTC").unwrap(), Interval::H1).unwrap();
        let back = file::parse(&csv(sample), "back.csv").unwrap();
        assert!(back.had_header);
        assert_eq!(&back.candles, sample);
    }
}
