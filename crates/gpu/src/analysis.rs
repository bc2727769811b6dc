//! The whole analysis with the MRA from the device: the same [`Analysis`] the
//! reference `AnalysisPlan` returns, where the details and smooths come from the
//! GPU and the small scalar statistics (wavedec coefficients, anomalies, signals,
//! band statistics) are the reference library's own functions run on them.

use waveplot_wavelet::analysis::DEFAULT_TREND_LEVEL;
use waveplot_wavelet::{
    Analysis, AnalysisParams, Anomalies, BandStats, Error as WaveletError, Signals, Wavelet,
    dwt_max_level, noise_floor, wavedec,
};

use crate::context::{GpuContext, Timings};
use crate::error::Result;

/// Levels the reference computes for `n` samples: the request capped at
/// `dwt_max_level`, with the reference's errors when none fits.
pub fn levels_used(n: usize, wavelet: &Wavelet, requested: usize) -> Result<usize> {
    if requested == 0 {
        return Err(WaveletError::ZeroLevels.into());
    }
    let max = dwt_max_level(n, wavelet.filter_len());
    if max == 0 {
        return Err(WaveletError::SignalTooShort {
            n,
            wavelet: wavelet.name().to_owned(),
            filter_len: wavelet.filter_len(),
            min_len: 2 * (wavelet.filter_len() - 1),
        }
        .into());
    }
    Ok(requested.min(max))
}

/// Checks what `AnalysisPlan::new` and `run` check, with the same errors.
fn validate(closes: &[f64], p: &AnalysisParams, bar_seconds: f64) -> Result<usize> {
    if !(p.anomaly_k.is_finite() && p.anomaly_k >= 0.0) {
        return Err(WaveletError::InvalidAnomalyK { k: p.anomaly_k }.into());
    }
    if p.trend_level == Some(0) {
        return Err(WaveletError::ZeroTrendLevel.into());
    }
    let levels = levels_used(closes.len(), &p.wavelet, p.levels)?;
    if let Some(index) = closes.iter().position(|v| !v.is_finite()) {
        let value = closes[index];
        return Err(WaveletError::NonFinite { index, value }.into());
    }
    if !(bar_seconds.is_finite() && bar_seconds > 0.0) {
        return Err(WaveletError::InvalidBarSeconds {
            seconds: bar_seconds,
        }
        .into());
    }
    Ok(levels)
}

impl GpuContext {
    /// `AnalysisPlan::new(closes.len(), params)?.run(closes, bar_seconds)` with the
    /// MRA computed on this device.
    pub fn analyse(
        &self,
        closes: &[f64],
        params: &AnalysisParams,
        bar_seconds: f64,
    ) -> Result<(Analysis, Timings)> {
        let levels = validate(closes, params, bar_seconds)?;
        let gpu = self.mra(closes, &params.wavelet, params.mra, params.mode, levels)?;
        let mut mra = gpu.mra;
        mra.levels_requested = params.levels;
        let coeffs = wavedec(closes, &params.wavelet, params.mode, levels)?;
        let floor = noise_floor(closes);
        let trend_level = params
            .trend_level
            .unwrap_or(DEFAULT_TREND_LEVEL)
            .min(levels);
        let anomalies = Anomalies::detect(&mra.details[0], params.anomaly_k, floor);
        let signals = Signals::compute(closes, &mra.smooths[trend_level - 1], trend_level);
        let bands = (1..=levels)
            .map(|j| BandStats::compute(j, &mra.details[j - 1], bar_seconds))
            .collect();
        let analysis = Analysis {
            levels_requested: params.levels,
            levels_used: levels,
            coeffs,
            mra,
            anomalies,
            signals,
            bands,
        };
        Ok((analysis, gpu.timings))
    }
}
