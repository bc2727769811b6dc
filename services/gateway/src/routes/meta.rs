//! `GET /api/meta`: what this deployment offers, so the page never hard-codes it.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use waveplot_protocol::{Interval, PlotId};

use crate::app::AppState;

/// The deployment's offer.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// Sources a request may name, the default first.
    pub sources: Vec<String>,
    /// Symbols the page suggests.
    pub symbols: Vec<String>,
    /// Every interval, shortest first.
    pub intervals: Vec<&'static str>,
    /// The six charts: ID and title.
    pub plots: Vec<(&'static str, &'static str)>,
    /// The render deadline in seconds.
    pub deadline_s: u64,
}

impl Meta {
    /// The offer of a deployment whose sources are `sources` (default first).
    pub fn new(sources: Vec<String>, deadline_s: u64) -> Self {
        Self {
            sources,
            symbols: ["BTCUSDT", "ETHUSDT", "SOLUSDT"].map(String::from).to_vec(),
            intervals: Interval::ALL.map(Interval::as_str).to_vec(),
            plots: PlotId::ALL.map(|p| (p.as_str(), p.title())).to_vec(),
            deadline_s,
        }
    }
}

/// `GET /api/meta`
pub async fn meta(State(state): State<AppState>) -> Json<Meta> {
    Json(state.meta.clone())
}
