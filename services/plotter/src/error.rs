//! The library's error type: what can go wrong between a decoded blob and an encoded
//! image. The binary wraps it with the action that failed (`render 02b from a.msgpack`).

use thiserror::Error;

/// Why a chart could not be rendered.
#[derive(Debug, Error)]
pub enum RenderError {
    /// The requested image size is outside what a chart can be drawn at.
    #[error("image size {width}×{height} is outside {min}..={max} pixels per side")]
    Size {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// Smallest side.
        min: u32,
        /// Largest side.
        max: u32,
    },
    /// The blob lacks a series the chart draws, or its parts disagree.
    #[error("the blob cannot be drawn: {0}")]
    Blob(#[from] waveplot_protocol::BlobError),
    /// The blob holds no candles, so there is nothing to draw.
    #[error("the blob has no candles")]
    Empty,
    /// The embedded font could not be loaded (a broken build, never bad input).
    #[error("the embedded font is not a valid font")]
    Font,
    /// The drawing library failed. Kept as text: plotters' errors are generic over the
    /// backend's error type, which the chart code does not bound to `'static`.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// A scene cannot be drawn.
    #[error("{0}")]
    Scene(#[from] waveplot_protocol::error::SceneError),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for RenderError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        Self::Draw(e.to_string())
    }
}
