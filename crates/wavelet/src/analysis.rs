//! The one entry point: a close series in, everything the charts draw out
//! (decomposition coefficients, MRA, anomalies, signals and band statistics).
//! An [`AnalysisPlan`] validates the parameters and sizes every buffer for one
//! series length; [`AnalysisPlan::run`] then only computes.

use crate::anomalies::Anomalies;
use crate::bands::BandStats;
use crate::dwt::{WavedecScratch, wavedec_into};
use crate::error::{Error, Result, check_finite};
use crate::filters::Wavelet;
use crate::mode::Mode;
use crate::mra::{Mra, MraKind, MraPlan};
use crate::signals::{Signals, noise_floor};

/// Series of at least this many closes are analysed on two threads
/// ([`AnalysisPlan::run_into`]): a million closes take 108 ms on one core of a 2-core
/// x86_64 VM, and prepare's other core is idle meanwhile. Shorter ones take a few
/// milliseconds at most, where starting threads would cost more than it saves.
pub const TWO_THREADS_FROM: usize = 1 << 16;

/// Default trend smooth: S_6 (periods longer than 64 bars), capped at the levels used.
pub const DEFAULT_TREND_LEVEL: usize = 6;

/// What to compute. `Default` is haar, symmetric, MODWT, 8 levels, k = 6, trend S_6.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisParams {
    /// Filter bank.
    pub wavelet: Wavelet,
    /// Extension mode for the DWT coefficients and both MRA kinds (for the MODWT,
    /// `periodization` means circular, anything else extends the ends; see [`MraKind`]).
    pub mode: Mode,
    /// Which multiresolution analysis feeds the charts.
    pub mra: MraKind,
    /// Requested depth; capped at `dwt_max_level(N, filter_len)` and reported.
    pub levels: usize,
    /// MAD multiplier of the anomaly threshold.
    pub anomaly_k: f64,
    /// Smooth used as trend; `None` means [`DEFAULT_TREND_LEVEL`]. Capped at the levels used.
    pub trend_level: Option<usize>,
}

impl Default for AnalysisParams {
    fn default() -> Self {
        AnalysisParams {
            wavelet: Wavelet::default(),
            mode: Mode::Symmetric,
            mra: MraKind::Modwt,
            levels: 8,
            anomaly_k: 6.0,
            trend_level: None,
        }
    }
}

/// Everything computed from one close series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Analysis {
    /// Levels asked for.
    pub levels_requested: usize,
    /// Levels computed (the request capped at `dwt_max_level`).
    pub levels_used: usize,
    /// `wavedec(closes, wavelet, mode, levels_used)`: `[cA_J, cD_J, ..., cD_1]`.
    pub coeffs: Vec<Vec<f64>>,
    /// Details D1..DJ and smooths S1..SJ.
    pub mra: Mra,
    /// Outliers of |D1|.
    pub anomalies: Anomalies,
    /// BUY/SELL/HOLD around the trend smooth.
    pub signals: Signals,
    /// `bands[j - 1]` describes D_j.
    pub bands: Vec<BandStats>,
}

/// Validated parameters plus the MRA plan for one series length.
#[derive(Debug, Clone)]
pub struct AnalysisPlan {
    params: AnalysisParams,
    mra: MraPlan,
    trend_level: usize,
    scratch: Vec<f64>,
    wavedec_scratch: WavedecScratch,
}

impl AnalysisPlan {
    /// Checks `params` and prepares for series of `n` closes.
    pub fn new(n: usize, params: &AnalysisParams) -> Result<AnalysisPlan> {
        if !(params.anomaly_k.is_finite() && params.anomaly_k >= 0.0) {
            return Err(Error::InvalidAnomalyK {
                k: params.anomaly_k,
            });
        }
        if params.trend_level == Some(0) {
            return Err(Error::ZeroTrendLevel);
        }
        let mra = MraPlan::new(n, &params.wavelet, params.mra, params.mode, params.levels)?;
        let trend_level = params
            .trend_level
            .unwrap_or(DEFAULT_TREND_LEVEL)
            .min(mra.levels_used());
        Ok(AnalysisPlan {
            params: params.clone(),
            mra,
            trend_level,
            scratch: Vec::with_capacity(n),
            wavedec_scratch: WavedecScratch::default(),
        })
    }

    /// The series length the plan accepts.
    pub fn len(&self) -> usize {
        self.mra.len()
    }

    /// Always false: plans need at least `2 * (filter_len - 1)` closes.
    pub fn is_empty(&self) -> bool {
        self.mra.is_empty()
    }

    /// Levels that will be computed.
    pub fn levels_used(&self) -> usize {
        self.mra.levels_used()
    }

    /// L such that the trend is the smooth S_L (the configured level capped at the levels used).
    pub fn trend_level(&self) -> usize {
        self.trend_level
    }

    /// The parameters the plan was made with.
    pub fn params(&self) -> &AnalysisParams {
        &self.params
    }

    /// Analyses `closes` (length [`AnalysisPlan::len`]); `bar_seconds` is one
    /// bar's duration, used for the band periods in seconds.
    pub fn run(&mut self, closes: &[f64], bar_seconds: f64) -> Result<Analysis> {
        let mut out = Analysis::default();
        self.run_into(closes, bar_seconds, &mut out)?;
        Ok(out)
    }

    /// [`AnalysisPlan::run`] into `out`, reusing its coefficient, MRA and
    /// signal buffers (no large allocations after the first call).
    pub fn run_into(&mut self, closes: &[f64], bar_seconds: f64, out: &mut Analysis) -> Result<()> {
        assert_eq!(
            closes.len(),
            self.len(),
            "AnalysisPlan was made for {} closes but got {}",
            self.len(),
            closes.len()
        );
        check_finite(closes)?;
        if !(bar_seconds.is_finite() && bar_seconds > 0.0) {
            return Err(Error::InvalidBarSeconds {
                seconds: bar_seconds,
            });
        }
        let levels = self.levels_used();
        out.levels_requested = self.params.levels;
        out.levels_used = levels;
        self.compute(closes, bar_seconds, out, closes.len() >= TWO_THREADS_FROM)
    }

    /// The analysis proper, on two threads if `two_threads`: the coefficients beside
    /// the MRA, then the band statistics beside the anomalies and signals. Each part
    /// reads only what the MRA wrote and writes its own output, so both ways give the
    /// same bits.
    fn compute(
        &mut self,
        closes: &[f64],
        bar_seconds: f64,
        out: &mut Analysis,
        two_threads: bool,
    ) -> Result<()> {
        let Self {
            params: p,
            mra,
            trend_level,
            scratch,
            wavedec_scratch,
        } = self;
        let levels = mra.levels_used();
        let (coeffs, analysed) = (&mut out.coeffs, &mut out.mra);
        let mut dwt = || wavedec_into(closes, &p.wavelet, p.mode, levels, coeffs, wavedec_scratch);
        let bands = |details: &[Vec<f64>]| -> Vec<BandStats> {
            (1..=levels)
                .map(|j| BandStats::compute(j, &details[j - 1], bar_seconds))
                .collect()
        };
        let floor = noise_floor(closes);
        let (anomalies, signals) = (&mut out.anomalies, &mut out.signals);
        let mut rest = |analysed: &Mra| {
            let details = &analysed.details;
            *anomalies = Anomalies::detect_with(&details[0], p.anomaly_k, floor, scratch);
            let trend = &analysed.smooths[*trend_level - 1];
            signals.compute_into(closes, trend, *trend_level, floor);
        };
        if !two_threads {
            dwt()?;
            mra.process_into(closes, analysed);
            rest(analysed);
            out.bands = bands(&analysed.details);
            return Ok(());
        }
        std::thread::scope(|s| {
            let dwt = s.spawn(dwt);
            mra.process_into(closes, analysed);
            let analysed = &*analysed;
            let banded = s.spawn(|| bands(&analysed.details));
            rest(analysed);
            // A panic in either thread is the caller's, as on one thread.
            out.bands = banded
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            dwt.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closes(n: usize) -> Vec<f64> {
        (0..n)
            .map(|t| 20_000.0 + 100.0 * (t as f64 / 37.0).sin() + (t % 7) as f64)
            .collect()
    }

    /// A long series analysed on two threads gives every bit one thread gives, for a
    /// MODWT and a DWT MRA, and `run` takes two threads from [`TWO_THREADS_FROM`].
    #[test]
    fn two_threads_give_the_bits_one_thread_gives() {
        let x: Vec<f64> = closes(TWO_THREADS_FROM + 4_321)
            .iter()
            .enumerate()
            .map(|(t, c)| {
                let spike = if t % 9_973 == 0 { 400.0 } else { 0.0 };
                c + ((t * 7_919) % 1_013) as f64 / 97.0 + spike
            })
            .collect();
        for mra in [MraKind::Modwt, MraKind::Dwt] {
            let params = AnalysisParams {
                mra,
                ..AnalysisParams::default()
            };
            let mut plan = AnalysisPlan::new(x.len(), &params).unwrap();
            let analyse = |plan: &mut AnalysisPlan, two_threads| {
                let mut out = Analysis {
                    levels_requested: 8,
                    levels_used: 8,
                    ..Analysis::default()
                };
                plan.compute(&x, 60.0, &mut out, two_threads).unwrap();
                out
            };
            let one = analyse(&mut plan, false);
            let two = analyse(&mut plan, true);
            assert!(!one.anomalies.points.is_empty() && one.bands.len() == 8);
            // No NaN anywhere (the closes are finite), so equality is bit equality.
            assert!(one == two, "{mra:?}: two threads differ");
            assert!(plan.run(&x, 60.0).unwrap() == one, "{mra:?}: run differs");
        }
    }

    #[test]
    fn defaults_are_haar_symmetric_modwt_eight_levels_k6() {
        let p = AnalysisParams::default();
        assert_eq!(
            (p.wavelet.name(), p.mode, p.mra, p.levels),
            ("haar", Mode::Symmetric, MraKind::Modwt, 8)
        );
        assert_eq!((p.anomaly_k, p.trend_level), (6.0, None));
    }

    #[test]
    fn a_run_fills_every_part_consistently() {
        let x = closes(864);
        let mut plan = AnalysisPlan::new(x.len(), &AnalysisParams::default()).unwrap();
        let a = plan.run(&x, 300.0).unwrap();
        assert_eq!((a.levels_requested, a.levels_used), (8, 8));
        assert_eq!(a.coeffs.len(), 9);
        assert_eq!((a.mra.details.len(), a.bands.len()), (8, 8));
        assert_eq!(a.signals.trend_level, 6);
        assert_eq!(a.signals.buy + a.signals.sell + a.signals.hold, x.len());
        assert_eq!(a.bands[2].period_min_seconds, 8.0 * 300.0);
    }

    #[test]
    fn a_flat_series_holds_everywhere_and_has_no_anomalies() {
        for (name, kind) in [
            ("sym5", MraKind::Dwt),
            ("db4", MraKind::Modwt),
            ("haar", MraKind::Modwt),
        ] {
            let params = AnalysisParams {
                wavelet: Wavelet::new(name).unwrap(),
                mra: kind,
                ..AnalysisParams::default()
            };
            let x = vec![20_123.37; 1000];
            let a = AnalysisPlan::new(x.len(), &params)
                .unwrap()
                .run(&x, 60.0)
                .unwrap();
            assert_eq!(a.signals.hold, x.len(), "{name} {kind}");
            assert!(a.anomalies.points.is_empty(), "{name} {kind}");
        }
    }

    #[test]
    fn trend_level_is_capped_at_the_levels_used() {
        let params = AnalysisParams {
            levels: 3,
            trend_level: Some(9),
            ..AnalysisParams::default()
        };
        let a = AnalysisPlan::new(200, &params)
            .unwrap()
            .run(&closes(200), 60.0)
            .unwrap();
        assert_eq!((a.levels_used, a.signals.trend_level), (3, 3));
    }

    #[test]
    fn bad_inputs_and_parameters_are_typed_errors() {
        let mut plan = AnalysisPlan::new(100, &AnalysisParams::default()).unwrap();
        let mut x = closes(100);
        x[42] = f64::NAN;
        assert!(matches!(
            plan.run(&x, 60.0),
            Err(Error::NonFinite { index: 42, .. })
        ));
        x[42] = 1.0;
        assert!(matches!(
            plan.run(&x, 0.0),
            Err(Error::InvalidBarSeconds { .. })
        ));
        let bad_k = AnalysisParams {
            anomaly_k: -1.0,
            ..AnalysisParams::default()
        };
        assert!(matches!(
            AnalysisPlan::new(100, &bad_k),
            Err(Error::InvalidAnomalyK { .. })
        ));
        let zero = AnalysisParams {
            trend_level: Some(0),
            ..AnalysisParams::default()
        };
        assert_eq!(
            AnalysisPlan::new(100, &zero).unwrap_err(),
            Error::ZeroTrendLevel
        );
        let short = AnalysisPlan::new(1, &AnalysisParams::default()).unwrap_err();
        assert!(short.to_string().contains("at least 2 samples"), "{short}");
    }
}
