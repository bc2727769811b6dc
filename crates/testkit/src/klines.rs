//! Klines files for tests and benchmarks: a seeded random walk of one-minute candles
//! as a CSV with a header, in Binance's twelve columns, for the windows the bundled
//! samples cannot give.

use std::fmt::Write as _;
use std::path::Path;

/// Writes `n` one-minute candles of a seeded random walk (whole-cent steps of up to
/// ±10.00 from 30 000) to `path`: the same file for the same `n`.
pub fn write_walk(path: &Path, n: usize) -> std::io::Result<()> {
    let mut out = String::from(
        "open_time_ms,open,high,low,close,volume,close_time_ms,quote_volume,trades,taker_buy_base,taker_buy_quote,ignore\n",
    );
    let (mut rng, mut close) = (
        fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15),
        30_000.0_f64,
    );
    let start = 1_700_000_000_000_i64 - 1_700_000_000_000_i64 % 60_000;
    for i in 0..n {
        let step = f64::from(rng.i32(-1000..=1000)) / 100.0;
        let open = close;
        close = (open + step).max(1.0);
        let (high, low) = (open.max(close) + 2.5, open.min(close) - 2.5);
        let t = start + i as i64 * 60_000;
        let _ = writeln!(
            out,
            "{t},{open:.2},{high:.2},{low:.2},{close:.2},12.5,{},375000.0,300,6.0,180000.0,0",
            t + 59_999
        );
    }
    std::fs::write(path, out)
}
