//! Pure-Rust wavelet analysis of price series: PyWavelets-compatible discrete
//! wavelet transforms, a shift-invariant (MODWT) or decimated (DWT)
//! multiresolution analysis, and the statistics drawn on top of it.
//!
//! This is the f64 reference implementation; a GPU port must reproduce it.
//!
//! Layout:
//! - [`error`] — the [`Error`] type and its messages.
//! - [`filters`] — [`Wavelet`], PyWavelets' db/sym/coif filter banks.
//! - [`mode`] — [`Mode`], PyWavelets' signal-extension modes.
//! - [`dwt`](mod@dwt) — `dwt`/`idwt`/`wavedec`/`waverec`/`dwt_max_level`.
//! - [`mra`] — [`MraPlan`] and [`Mra`], details D1..DJ and smooths S1..SJ.
//! - [`anomalies`] — median + k·MAD outliers of |D1|.
//! - [`signals`] — BUY/SELL/HOLD zones around the trend smooth.
//! - [`bands`] — per-level σ, roughness, extrema, cycle periods, amplitude.
//! - [`analysis`] — [`AnalysisParams`] and [`AnalysisPlan`], the one entry point.
//!
//! ```
//! use waveplot_wavelet::{AnalysisParams, AnalysisPlan};
//!
//! let closes: Vec<f64> = (0..864).map(|t| 20_000.0 + (t as f64 / 40.0).sin() * 150.0).collect();
//! let mut plan = AnalysisPlan::new(closes.len(), &AnalysisParams::default())?;
//! let analysis = plan.run(&closes, 300.0)?; // 5-minute bars
//! assert_eq!(analysis.levels_used, 8);
//! let s = &analysis.signals;
//! assert_eq!(s.buy + s.sell + s.hold, closes.len());
//! # Ok::<(), waveplot_wavelet::Error>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod analysis;
pub mod anomalies;
pub mod bands;
pub mod dwt;
pub mod error;
pub mod filters;
pub mod mode;
pub mod mra;
pub mod signals;

pub use analysis::{Analysis, AnalysisParams, AnalysisPlan};
pub use anomalies::{Anomalies, Anomaly};
pub use bands::BandStats;
pub use dwt::{dwt, dwt_coeff_len, dwt_max_level, idwt, idwt_len, wavedec, waverec};
pub use error::{Error, Result};
pub use filters::Wavelet;
pub use mode::Mode;
pub use mra::{Mra, MraKind, MraPlan};
pub use signals::{NOISE_FLOOR, Signal, Signals, noise_floor};
