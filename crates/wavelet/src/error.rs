//! The crate's error type: every fallible entry point returns [`Error`](enum@Error), whose
//! messages say what was wrong and what would have been accepted.

use thiserror::Error;

/// Everything that can go wrong when building a plan or analysing a series.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    /// The wavelet name is not one of the supported filter banks.
    #[error("unknown wavelet '{name}'; valid: {valid}")]
    UnknownWavelet {
        /// The name that was asked for.
        name: String,
        /// A compact list of the accepted names.
        valid: String,
    },
    /// The signal-extension mode name is not one of PyWavelets' modes.
    #[error("unknown extension mode '{name}'; valid: {valid}")]
    UnknownMode {
        /// The name that was asked for.
        name: String,
        /// The accepted names.
        valid: String,
    },
    /// The multiresolution-analysis kind is neither `modwt` nor `dwt`.
    #[error("unknown MRA kind '{name}'; valid: modwt, dwt")]
    UnknownMraKind {
        /// The name that was asked for.
        name: String,
    },
    /// The input has no samples.
    #[error("the input signal is empty; at least one sample is needed")]
    EmptySignal,
    /// A whole-sample mirror mode (reflect, antireflect) met a one-sample signal.
    #[error(
        "mode '{mode}' needs at least 2 samples to mirror, but a level's input has 1; \
         use another mode or fewer levels"
    )]
    ModeNeedsTwoSamples {
        /// The mode that cannot extend a single sample.
        mode: crate::mode::Mode,
    },
    /// The signal is too short for even one decomposition level.
    #[error(
        "a signal of {n} samples is too short for one level of {wavelet} \
         (filter length {filter_len}); at least {min_len} samples are needed"
    )]
    SignalTooShort {
        /// The signal length that was given.
        n: usize,
        /// The wavelet's name.
        wavelet: String,
        /// The wavelet's filter length.
        filter_len: usize,
        /// The smallest length that allows one level, `2 * (filter_len - 1)`.
        min_len: usize,
    },
    /// Zero decomposition levels were requested.
    #[error("levels must be at least 1 (got 0)")]
    ZeroLevels,
    /// The trend level was set to 0.
    #[error("trend level must be at least 1 (got 0); it selects the smooth S_L used as trend")]
    ZeroTrendLevel,
    /// The anomaly multiplier is negative or not finite.
    #[error("anomaly k must be finite and non-negative (got {k})")]
    InvalidAnomalyK {
        /// The rejected multiplier.
        k: f64,
    },
    /// The bar duration is not a positive finite number of seconds.
    #[error("bar duration must be finite and positive seconds (got {seconds})")]
    InvalidBarSeconds {
        /// The rejected duration.
        seconds: f64,
    },
    /// An input sample is NaN or infinite.
    #[error("input sample {index} is {value}; all samples must be finite")]
    NonFinite {
        /// Position of the first offending sample.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// Approximation and detail coefficients of one level differ in length.
    #[error(
        "coefficient length mismatch: approximation has {approx}, detail has {detail}; \
         they must be equal (or the approximation one longer inside waverec)"
    )]
    CoefficientLengthMismatch {
        /// Length of the approximation coefficients.
        approx: usize,
        /// Length of the detail coefficients.
        detail: usize,
    },
    /// Coefficients too short for the reconstruction filter.
    #[error(
        "{len} coefficients are too few to reconstruct with filter length {filter_len}; \
         at least {min} are needed (or use periodization)"
    )]
    CoefficientsTooShort {
        /// Length of the coefficient arrays.
        len: usize,
        /// The reconstruction filter length.
        filter_len: usize,
        /// The minimum, `filter_len / 2`.
        min: usize,
    },
    /// `waverec` was given no coefficient arrays.
    #[error("waverec needs at least one coefficient array (got none)")]
    NoCoefficients,
}

/// Shorthand for results whose error is [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;

/// Returns the first non-finite sample as an error.
pub(crate) fn check_finite(x: &[f64]) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite {
            index,
            value: x[index],
        }),
        None => Ok(()),
    }
}
