//! The crate's error type. A missing Vulkan loader or device is its own variant, so
//! a caller choosing a backend can tell "no GPU here" from "the GPU failed".

use thiserror::Error;

/// Everything the Vulkan pass can fail with.
#[derive(Debug, Error)]
pub enum Error {
    /// The Vulkan loader (`libvulkan.so.1`) could not be loaded or initialised.
    #[error("no Vulkan loader (install libvulkan1 and a driver, e.g. mesa-vulkan-drivers)")]
    NoLoader {
        /// What the loader reported.
        #[source]
        source: Cause,
    },
    /// No device satisfies the policy.
    #[error("no usable Vulkan device ({policy}); found: {found}")]
    NoDevice {
        /// The policy that was applied.
        policy: crate::DevicePolicy,
        /// The devices the loader reported, or "none".
        found: String,
    },
    /// A Vulkan call failed.
    #[error("Vulkan: {action}")]
    Vulkan {
        /// What was being done.
        action: &'static str,
        /// The driver's or vulkano's error.
        #[source]
        source: Cause,
    },
    /// The series needs more memory or work groups than the device allows.
    #[error("{what} needs {needed}, the device allows {limit}")]
    TooLarge {
        /// Which resource.
        what: &'static str,
        /// How much the series needs.
        needed: u64,
        /// The device limit.
        limit: u64,
    },
    /// The parameters or the input were refused, with the reference library's reason.
    #[error(transparent)]
    Input(#[from] waveplot_wavelet::Error),
}

/// Shorthand for results whose error is [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;

/// The error of vulkano or of the driver underneath a variant.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Maps any vulkano error to [`Error::Vulkan`] naming the action that failed.
pub(crate) fn vk<E: std::error::Error + Send + Sync + 'static>(
    action: &'static str,
) -> impl FnOnce(E) -> Error {
    move |e| Error::Vulkan {
        action,
        source: Box::new(e),
    }
}
