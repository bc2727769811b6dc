//! The market events of one watched analysis at a close, read off the analysis of the
//! window that ends at the closed candle (the blob a render of that window has).

use waveplot_protocol::blob::Signal;
use waveplot_protocol::{AnomalyEvent, Blob, BlobKey, LiveWindow, SignalEvent, V1};

/// The newest candle's signal in `blob`.
pub(crate) fn newest_signal(blob: &Blob) -> Option<Signal> {
    blob.analysis.signals.signal.last().copied()
}

/// The anomaly event of the newest candle, if the analysis flags it.
pub(crate) fn anomaly(blob: &Blob, key: &BlobKey) -> Option<AnomalyEvent> {
    let newest = blob.candles.len().checked_sub(1)?;
    let a = &blob.analysis.anomalies;
    let at = a.indices.iter().position(|&i| i as usize == newest)?;
    Some(AnomalyEvent {
        v: V1,
        symbol: blob.header.symbol.clone(),
        interval: blob.header.interval,
        open_ms: blob.candles.open_time_ms[newest],
        close: blob.candles.close[newest],
        value: a.values[at],
        threshold: a.threshold,
        window: window(blob, key),
    })
}

/// The signal event of the newest candle, if its signal is not `previous`.
pub(crate) fn signal(blob: &Blob, key: &BlobKey, previous: Signal) -> Option<SignalEvent> {
    let newest = blob.candles.len().checked_sub(1)?;
    let s = &blob.analysis.signals;
    let now = *s.signal.get(newest)?;
    if now == previous {
        return None;
    }
    let trend = blob
        .analysis
        .smooths
        .get((s.trend_level as usize).checked_sub(1)?)?;
    let close = blob.candles.close[newest];
    Some(SignalEvent {
        v: V1,
        symbol: blob.header.symbol.clone(),
        interval: blob.header.interval,
        open_ms: blob.candles.open_time_ms[newest],
        close,
        signal: now,
        previous,
        deviation: close - trend[newest],
        buffer: s.buffer,
        window: window(blob, key),
    })
}

fn window(blob: &Blob, key: &BlobKey) -> LiveWindow {
    LiveWindow {
        candles: blob.header.candles,
        params: blob.header.params.clone(),
        key: key.clone(),
    }
}

#[cfg(test)]
mod tests {
    use waveplot_protocol::{AnalysisParams, Interval, Source, Symbol};

    use super::*;
    use crate::analysis::{Window, analyse};
    use crate::backend::Backend;
    use crate::source::sample;

    /// The last `n` sample candles, with the newest close replaced by `last_close`.
    fn blob(n: usize, last_close: Option<f64>) -> Blob {
        let symbol = Symbol::parse("BTCUSDT").unwrap();
        let all = sample::candles(&symbol, Interval::M5).unwrap();
        let mut candles = all.slice(all.len() - n..all.len());
        if let Some(c) = last_close {
            let i = n - 1;
            candles.close[i] = c;
            candles.high[i] = candles.high[i].max(c);
            candles.low[i] = candles.low[i].min(c);
        }
        let window = Window {
            symbol,
            interval: Interval::M5,
            source: Source::Sample,
            source_label: String::new(),
            candles: candles.into(),
            load_ms: 0.0,
        };
        analyse(window, &AnalysisParams::default(), &Backend::cpu())
            .unwrap()
            .into_blob()
    }

    fn key() -> BlobKey {
        BlobKey::for_window(&waveplot_protocol::WindowId {
            symbol: &Symbol::parse("BTCUSDT").unwrap(),
            interval: Interval::M5,
            source: &Source::Sample,
            end_open_ms: 0,
            candles: 400,
            params: &AnalysisParams::default(),
        })
    }

    /// What the README says of the newest candle's D1 (section "Live"): with the
    /// default analysis (Haar, symmetric extension, MODWT) the series is mirrored past
    /// its end, so the newest D1 is a quarter of the last move,
    /// `(close[n-1] − close[n-2]) / 4`, where inside the window D1 is
    /// `(2·close[i] − close[i-1] − close[i+1]) / 4`: a one-candle spike at the newest
    /// candle scores half of what it scores once the next candle exists.
    #[test]
    fn the_newest_d1_is_a_quarter_of_the_last_move() {
        let b = blob(400, None);
        let (c, d1) = (&b.candles.close, &b.analysis.details[0]);
        let n = c.len();
        let tolerance = 1e-9 * c[n - 1];
        assert!((d1[n - 1] - (c[n - 1] - c[n - 2]) / 4.0).abs() < tolerance);
        for i in [n / 2, n - 2] {
            let inside = (2.0 * c[i] - c[i - 1] - c[i + 1]) / 4.0;
            assert!((d1[i] - inside).abs() < tolerance, "{i}");
        }
    }

    #[test]
    fn a_jump_at_the_newest_candle_is_an_anomaly_event_with_the_windows_threshold() {
        let calm = blob(400, None);
        assert!(
            anomaly(&calm, &key()).is_none(),
            "the sample's last candle is calm"
        );
        let last = calm.candles.close[399];
        let jumped = blob(400, Some(last * 1.05));
        let e = anomaly(&jumped, &key()).expect("a 5 % jump is an anomaly");
        let a = &jumped.analysis.anomalies;
        assert_eq!(e.threshold, a.threshold);
        assert_eq!(e.value, jumped.analysis.details[0][399]);
        assert!(e.value.abs() > e.threshold);
        assert_eq!(
            (e.open_ms, e.close),
            (jumped.candles.open_time_ms[399], last * 1.05)
        );
        assert_eq!((e.window.candles, e.window.key), (400, key()));
    }

    #[test]
    fn a_signal_event_is_sent_only_when_the_newest_signal_changes() {
        let b = blob(400, None);
        let now = newest_signal(&b).unwrap();
        assert!(signal(&b, &key(), now).is_none());
        let other = if now == Signal::Hold {
            Signal::Buy
        } else {
            Signal::Hold
        };
        let e = signal(&b, &key(), other).unwrap();
        assert_eq!((e.signal, e.previous), (now, other));
        let s = &b.analysis.signals;
        assert_eq!(e.buffer, s.buffer);
        let trend = b.analysis.smooths[s.trend_level as usize - 1][399];
        assert_eq!(e.deviation, b.candles.close[399] - trend);
        let zone = if e.deviation < -e.buffer {
            Signal::Buy
        } else if e.deviation > e.buffer {
            Signal::Sell
        } else {
            Signal::Hold
        };
        assert_eq!(zone, now, "the deviation and buffer explain the signal");
    }
}
