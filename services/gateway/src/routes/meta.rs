//! `GET /api/meta`: what this deployment offers, so the page never hard-codes it.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use waveplot_protocol::{Interval, PlotId, Source, Symbol};

use crate::app::AppState;

/// The symbols the page suggests.
const SUGGESTED_SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];

/// The deployment's offer.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Meta {
    /// Sources a request may name, the default first.
    pub sources: Vec<Source>,
    /// Symbols the page suggests.
    pub symbols: Vec<Symbol>,
    /// Every interval, shortest first.
    pub intervals: Vec<Interval>,
    /// The six charts: ID and title.
    pub plots: Vec<(PlotId, &'static str)>,
    /// The render deadline in seconds.
    pub deadline_s: u64,
}

impl Meta {
    /// The offer of a deployment whose sources are `sources` (default first).
    pub fn new(sources: Vec<Source>, deadline_s: u64) -> Self {
        Self {
            sources,
            // Canonical names, which always parse (a test reads them back).
            symbols: SUGGESTED_SYMBOLS
                .into_iter()
                .filter_map(|s| Symbol::parse(s).ok())
                .collect(),
            intervals: Interval::ALL.to_vec(),
            plots: PlotId::ALL.map(|p| (p, p.title())).to_vec(),
            deadline_s,
        }
    }
}

/// `GET /api/meta`
pub async fn meta(State(state): State<AppState>) -> Json<Meta> {
    Json(state.meta.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_is_the_json_the_page_reads() {
        let meta = Meta::new(vec![Source::Sample, Source::Binance], 30);
        let json = serde_json::to_value(&meta).unwrap();
        let want = serde_json::json!({
            "sources": ["sample", "binance"],
            "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
            "intervals": [
                "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
                "1d", "3d", "1w", "1M"
            ],
            "plots": [
                ["01", "Overview"],
                ["02a", "Progressive approximations"],
                ["02b", "Frequency bands"],
                ["03", "Anomaly detection"],
                ["04", "Trading signals"],
                ["05", "Statistics dashboard"]
            ],
            "deadline_s": 30
        });
        assert_eq!(json, want);
    }
}
