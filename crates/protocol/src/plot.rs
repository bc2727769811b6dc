//! `PlotId` (which of the six charts) and `ImageFormat` (what a chart is encoded as).
//!
//! The IDs are the original system's file prefixes, so people who knew it find their
//! charts under the same names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// One of the six charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PlotId {
    /// `01`: price, trend, finest detail with anomalies, volume.
    Overview,
    /// `02a`: the close and the smooths S1..SJ, each over the previous one.
    Approximations,
    /// `02b`: the details D1..DJ with each band's period range and statistics.
    Bands,
    /// `03`: anomaly detection on the finest detail.
    Anomalies,
    /// `04`: trading signals around the trend.
    Signals,
    /// `05`: statistics dashboard.
    Statistics,
}

impl PlotId {
    /// All six, in display order.
    pub const ALL: [PlotId; 6] = [
        Self::Overview,
        Self::Approximations,
        Self::Bands,
        Self::Anomalies,
        Self::Signals,
        Self::Statistics,
    ];

    /// The ID as used in subjects, keys and URLs (`01`, `02a`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overview => "01",
            Self::Approximations => "02a",
            Self::Bands => "02b",
            Self::Anomalies => "03",
            Self::Signals => "04",
            Self::Statistics => "05",
        }
    }

    /// A short human title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Overview => "Overview",
            Self::Approximations => "Progressive approximations",
            Self::Bands => "Frequency bands",
            Self::Anomalies => "Anomaly detection",
            Self::Signals => "Trading signals",
            Self::Statistics => "Statistics dashboard",
        }
    }

    /// Default image size in pixels (width, height). The two multi-panel charts are
    /// taller so that each of their nine rows stays readable.
    pub fn default_size(self) -> (u32, u32) {
        match self {
            Self::Approximations | Self::Bands => (1280, 1800),
            _ => (1280, 720),
        }
    }

    /// The image size for a request's optional width and height: both given are used
    /// as they are; one side alone keeps the chart's default aspect ratio (clamped to
    /// the allowed sides); neither gives [`PlotId::default_size`].
    pub fn size_for(self, width: Option<u32>, height: Option<u32>) -> (u32, u32) {
        use crate::request::{MAX_SIDE, MIN_SIDE};
        let (dw, dh) = self.default_size();
        let scale = |a: u32, da: u32, db: u32| {
            let scaled = u64::from(a) * u64::from(db) / u64::from(da);
            u32::try_from(scaled)
                .unwrap_or(MAX_SIDE)
                .clamp(MIN_SIDE, MAX_SIDE)
        };
        match (width, height) {
            (Some(w), Some(h)) => (w, h),
            (Some(w), None) => (w, scale(w, dw, dh)),
            (None, Some(h)) => (scale(h, dh, dw), h),
            (None, None) => (dw, dh),
        }
    }

    /// Parses a plot ID; `1` means `01` and case does not matter (`02A`).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let lower = input.trim().to_ascii_lowercase();
        // "1" and "2b" are how people shorten "01" and "02b".
        let padded = if lower.len() <= 2 && lower.starts_with(|c: char| ('1'..='9').contains(&c)) {
            format!("0{lower}")
        } else {
            lower
        };
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == padded)
            .ok_or_else(|| ParseError::PlotId {
                input: input.to_owned(),
                valid: Self::ALL.map(Self::as_str).join(", "),
            })
    }
}

impl fmt::Display for PlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::parse_impls!(PlotId);

impl From<PlotId> for String {
    fn from(p: PlotId) -> Self {
        p.as_str().to_owned()
    }
}

/// How a chart is encoded.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// PNG raster image (the default).
    #[default]
    Png,
    /// SVG vector image.
    Svg,
}

impl ImageFormat {
    /// The file extension, which is also the format's name (`png`, `svg`).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Svg => "svg",
        }
    }

    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Svg => "image/svg+xml",
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for ImageFormat {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "png" => Ok(Self::Png),
            "svg" => Ok(Self::Svg),
            _ => Err(ParseError::ImageFormat {
                input: s.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plot_id_round_trips_through_its_name_and_json() {
        for p in PlotId::ALL {
            assert_eq!(PlotId::parse(p.as_str()).unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{p}\""));
            assert_eq!(serde_json::from_str::<PlotId>(&json).unwrap(), p);
        }
    }

    #[test]
    fn plot_ids_are_forgiving_about_case_and_a_missing_zero() {
        assert_eq!(PlotId::parse("1").unwrap(), PlotId::Overview);
        assert_eq!(PlotId::parse("02A").unwrap(), PlotId::Approximations);
        assert_eq!(PlotId::parse("2b").unwrap(), PlotId::Bands);
        assert_eq!(PlotId::parse(" 05 ").unwrap(), PlotId::Statistics);
    }

    #[test]
    fn an_unknown_plot_id_lists_the_valid_ones() {
        for bad in ["", "02", "06", "2c", "overview", "001"] {
            let e = PlotId::parse(bad).unwrap_err().to_string();
            assert!(e.contains("01, 02a, 02b, 03, 04, 05"), "{bad}: {e}");
        }
    }

    #[test]
    fn image_formats_parse_and_name_their_content_type() {
        assert_eq!("PNG".parse::<ImageFormat>().unwrap(), ImageFormat::Png);
        assert_eq!(ImageFormat::Svg.content_type(), "image/svg+xml");
        let e = "jpeg".parse::<ImageFormat>().unwrap_err().to_string();
        assert!(e.contains("png, svg"), "{e}");
    }
}
