//! prepare's klines file reader (plain CSV or a `.zip` download) on arbitrary bytes:
//! an error or candles that keep the reader's promises, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use waveplot_protocol::Interval;

fuzz_target!(|data: &[u8]| {
    let Ok(c) = waveplot_prepare::parse_klines(data, Interval::M5) else {
        return;
    };
    let n = c.len();
    assert!(n > 0, "no candles is an error, not an empty series");
    for column in [c.open.len(), c.high.len(), c.low.len(), c.close.len()] {
        assert_eq!(column, n, "a column has a value per candle");
    }
    assert_eq!(c.close_time_ms.len(), n);
    assert_eq!(c.volume.len(), n);
    assert_eq!(c.quote_volume.len(), n);
    assert_eq!(c.trades.len(), n);
    assert_eq!(c.taker_buy_base.len(), n);
    assert_eq!(c.taker_buy_quote.len(), n);
    assert!(
        c.open_time_ms.windows(2).all(|w| w[0] < w[1]),
        "open times strictly increase"
    );
    for i in 0..n {
        assert!(
            c.low[i] > 0.0 && c.low[i] <= c.high[i],
            "low and high in order"
        );
        assert!(
            c.close_time_ms[i] >= c.open_time_ms[i],
            "a candle closes after it opens"
        );
    }
});
