//! NATS subject names, built only from validated values.
//!
//! | subject | meaning |
//! | --- | --- |
//! | `<prefix>.render` | a render request (request/reply; prepare's queue group answers) |
//! | `<prefix>.prepared.<SYMBOL>.<INTERVAL>` | a blob is in the store |
//! | `<prefix>.done.<PLOT_ID>` | a chart is in the store |
//! | `<prefix>.failed.<STAGE>` | a stage failed for a request |
//!
//! The prefix is `waveplot` unless configured (`WAVEPLOT_SUBJECT_PREFIX`), so several
//! deployments can share one NATS server.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::interval::Interval;
use crate::plot::PlotId;
use crate::symbol::Symbol;

/// The default subject prefix.
pub const DEFAULT_PREFIX: &str = "waveplot";

/// The stage of a render that failed, the last token of a `failed` subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The gateway (e.g. a deadline passed before a chart arrived).
    Gateway,
    /// The prepare service (validation, candle loading, analysis, storing the blob).
    Prepare,
    /// A plotter (fetching the blob, rendering, storing the image).
    Plot,
}

impl Stage {
    /// The stage as a subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Prepare => "prepare",
            Self::Plot => "plot",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds the subjects of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Default for Subjects {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl Subjects {
    /// Subjects under `prefix`: one or more dot-separated tokens of `A-Z a-z 0-9 _ -`.
    pub fn new(prefix: &str) -> Result<Self, ParseError> {
        let valid = prefix.split('.').all(|t| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        });
        if valid {
            Ok(Self {
                prefix: prefix.to_owned(),
            })
        } else {
            Err(ParseError::SubjectPrefix {
                input: prefix.to_owned(),
            })
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.render`
    pub fn render(&self) -> String {
        format!("{}.render", self.prefix)
    }

    /// `<prefix>.prepared.<SYMBOL>.<INTERVAL>`
    pub fn prepared(&self, symbol: &Symbol, interval: Interval) -> String {
        format!("{}.prepared.{symbol}.{interval}", self.prefix)
    }

    /// `<prefix>.prepared.>`: every prepared event, which is what plotters subscribe to.
    pub fn prepared_any(&self) -> String {
        format!("{}.prepared.>", self.prefix)
    }

    /// `<prefix>.done.<PLOT_ID>`
    pub fn done(&self, plot: PlotId) -> String {
        format!("{}.done.{plot}", self.prefix)
    }

    /// `<prefix>.done.*`
    pub fn done_any(&self) -> String {
        format!("{}.done.*", self.prefix)
    }

    /// `<prefix>.failed.<STAGE>`
    pub fn failed(&self, stage: Stage) -> String {
        format!("{}.failed.{stage}", self.prefix)
    }

    /// `<prefix>.failed.*`
    pub fn failed_any(&self) -> String {
        format!("{}.failed.*", self.prefix)
    }

    /// `<prefix>.>`: everything waveplot publishes.
    pub fn everything(&self) -> String {
        format!("{}.>", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_design_table() {
        let s = Subjects::default();
        let btc = Symbol::parse("BTC").unwrap();
        assert_eq!(s.render(), "waveplot.render");
        assert_eq!(
            s.prepared(&btc, Interval::M5),
            "waveplot.prepared.BTCUSDT.5m"
        );
        assert_eq!(s.done(PlotId::Bands), "waveplot.done.02b");
        assert_eq!(s.failed(Stage::Plot), "waveplot.failed.plot");
        assert_eq!(s.everything(), "waveplot.>");
    }

    #[test]
    fn the_prefix_is_configurable_but_must_be_subject_tokens() {
        let s = Subjects::new("lab.waveplot-2").unwrap();
        assert_eq!(s.done_any(), "lab.waveplot-2.done.*");
        for bad in ["", "a..b", ".a", "a.", "a b", "a.*", "a.>"] {
            let e = Subjects::new(bad).unwrap_err().to_string();
            assert!(e.contains("dot-separated tokens"), "{bad}: {e}");
        }
    }
}
