//! NATS subject names, built only from validated values.
//!
//! | subject | meaning |
//! | --- | --- |
//! | `<prefix>.render` | a render request (request/reply; prepare's queue group answers) |
//! | `<prefix>.accepted.<SYMBOL>.<INTERVAL>` | prepare accepted a render request (kept by the event stream, like the three below) |
//! | `<prefix>.prepared.<SYMBOL>.<INTERVAL>` | a blob is in the store |
//! | `<prefix>.done.<PLOT_ID>` | a chart is in the store |
//! | `<prefix>.failed.<STAGE>` | a stage failed for a request |
//! | `<prefix>.watch` | a watch request: follow a pair live (request/reply; prepare's queue group answers) |
//! | `<prefix>.price.<SYMBOL>.<INTERVAL>` | the forming candle of a watched pair, at most once a second |
//! | `<prefix>.candle.<SYMBOL>.<INTERVAL>` | a candle of a watched pair closed |
//! | `<prefix>.anomaly.<SYMBOL>.<INTERVAL>` | a watched analysis flags the candle that just closed |
//! | `<prefix>.signal.<SYMBOL>.<INTERVAL>` | a watched analysis's signal changed at the candle that just closed |
//!
//! The market events (the last four) are plain NATS messages, not kept by the stream
//! ([`crate::live`]).
//!
//! The prefix is `waveplot` unless configured (`WAVEPLOT_SUBJECT_PREFIX`), so several
//! deployments can share one NATS server. [`Subjects::classify`] reads a subject back
//! into a [`SubjectKind`], so a subscriber routes messages by type, not by text.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::interval::Interval;
use crate::plot::PlotId;
use crate::symbol::Symbol;

/// The default subject prefix.
pub const DEFAULT_PREFIX: &str = "waveplot";

/// The stage of a render that failed, the last token of a `failed` subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Every stage.
    pub const ALL: [Stage; 3] = [Self::Gateway, Self::Prepare, Self::Plot];

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

/// What a subject of one deployment carries, read back by [`Subjects::classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectKind {
    /// `<prefix>.render`: a render request.
    Render,
    /// `<prefix>.accepted.<SYMBOL>.<INTERVAL>`: prepare accepted a render request.
    Accepted {
        /// The window's trading pair.
        symbol: Symbol,
        /// The window's kline interval.
        interval: Interval,
    },
    /// `<prefix>.prepared.<SYMBOL>.<INTERVAL>`: a blob is in the store.
    Prepared {
        /// The window's trading pair.
        symbol: Symbol,
        /// The window's kline interval.
        interval: Interval,
    },
    /// `<prefix>.done.<PLOT_ID>`: a chart is in the store.
    Done {
        /// The chart.
        plot: PlotId,
    },
    /// `<prefix>.failed.<STAGE>`: a stage failed for a request.
    Failed {
        /// The stage that failed.
        stage: Stage,
    },
    /// `<prefix>.watch`: a watch request.
    Watch,
    /// `<prefix>.<KIND>.<SYMBOL>.<INTERVAL>`: a market event of a watched pair.
    Market {
        /// Which event.
        kind: Market,
        /// The pair.
        symbol: Symbol,
        /// The kline interval.
        interval: Interval,
    },
}

/// The market events of a watched pair ([`crate::live`]), the second token of their
/// subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Market {
    /// The forming candle.
    Price,
    /// A closed candle.
    Candle,
    /// An anomaly at the candle that just closed.
    Anomaly,
    /// A changed signal at the candle that just closed.
    Signal,
}

impl Market {
    /// Every market event.
    pub const ALL: [Market; 4] = [Self::Price, Self::Candle, Self::Anomaly, Self::Signal];

    /// The event as a subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Price => "price",
            Self::Candle => "candle",
            Self::Anomaly => "anomaly",
            Self::Signal => "signal",
        }
    }
}

impl fmt::Display for Market {
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

    /// `<prefix>.accepted.<SYMBOL>.<INTERVAL>`
    pub fn accepted(&self, symbol: &Symbol, interval: Interval) -> String {
        format!("{}.accepted.{symbol}.{interval}", self.prefix)
    }

    /// `<prefix>.accepted.>`: every accepted request, which prepare works from.
    pub fn accepted_any(&self) -> String {
        format!("{}.accepted.>", self.prefix)
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

    /// `<prefix>.watch`
    pub fn watch(&self) -> String {
        format!("{}.watch", self.prefix)
    }

    /// `<prefix>.<KIND>.<SYMBOL>.<INTERVAL>`: a market event of a watched pair.
    pub fn market(&self, kind: Market, symbol: &Symbol, interval: Interval) -> String {
        format!("{}.{kind}.{symbol}.{interval}", self.prefix)
    }

    /// `<prefix>.price.<SYMBOL>.<INTERVAL>`
    pub fn price(&self, symbol: &Symbol, interval: Interval) -> String {
        self.market(Market::Price, symbol, interval)
    }

    /// `<prefix>.candle.<SYMBOL>.<INTERVAL>`
    pub fn candle(&self, symbol: &Symbol, interval: Interval) -> String {
        self.market(Market::Candle, symbol, interval)
    }

    /// `<prefix>.anomaly.<SYMBOL>.<INTERVAL>`
    pub fn anomaly(&self, symbol: &Symbol, interval: Interval) -> String {
        self.market(Market::Anomaly, symbol, interval)
    }

    /// `<prefix>.signal.<SYMBOL>.<INTERVAL>`
    pub fn signal(&self, symbol: &Symbol, interval: Interval) -> String {
        self.market(Market::Signal, symbol, interval)
    }

    /// The events, every subject an `accepted`, `prepared`, `done` or `failed` event is
    /// published on: what the deployment's JetStream stream keeps. The render requests
    /// are not among them: a stream answers a request on a subject it keeps with its
    /// own acknowledgement, before prepare could.
    pub fn events(&self) -> [String; 4] {
        [
            self.accepted_any(),
            self.prepared_any(),
            self.done_any(),
            self.failed_any(),
        ]
    }

    /// The name of the JetStream stream that keeps [`Subjects::events`]: the prefix in
    /// upper case, dots as `_`, then `_EVENTS` (`WAVEPLOT_EVENTS`), so deployments that
    /// share a server keep theirs apart.
    pub fn events_stream(&self) -> String {
        format!(
            "{}_EVENTS",
            self.prefix.replace('.', "_").to_ascii_uppercase()
        )
    }

    /// `<prefix>.>`: everything waveplot publishes.
    pub fn everything(&self) -> String {
        format!("{}.>", self.prefix)
    }

    /// What `subject` carries, if it is one of this deployment's subjects exactly as the
    /// builders above write it: another prefix, an unknown kind, a missing or extra
    /// token, or a token in any but its canonical spelling (`btc` for `BTCUSDT`, `1`
    /// for `01`) gives `None`.
    pub fn classify(&self, subject: &str) -> Option<SubjectKind> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix('.')?;
        let tokens: Vec<&str> = rest.split('.').collect();
        match tokens.as_slice() {
            ["render"] => Some(SubjectKind::Render),
            ["accepted", symbol, interval] => Some(SubjectKind::Accepted {
                symbol: canonical(symbol)?,
                interval: canonical(interval)?,
            }),
            ["prepared", symbol, interval] => Some(SubjectKind::Prepared {
                symbol: canonical(symbol)?,
                interval: canonical(interval)?,
            }),
            ["done", plot] => Some(SubjectKind::Done {
                plot: canonical(plot)?,
            }),
            ["failed", stage] => Stage::ALL
                .into_iter()
                .find(|s| s.as_str() == *stage)
                .map(|stage| SubjectKind::Failed { stage }),
            ["watch"] => Some(SubjectKind::Watch),
            [kind, symbol, interval] => Some(SubjectKind::Market {
                kind: Market::ALL.into_iter().find(|k| k.as_str() == *kind)?,
                symbol: canonical(symbol)?,
                interval: canonical(interval)?,
            }),
            _ => None,
        }
    }
}

/// The value a subject token names, if the token is that value's canonical spelling.
fn canonical<T: FromStr + fmt::Display>(token: &str) -> Option<T> {
    token.parse().ok().filter(|v: &T| v.to_string() == token)
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
            s.events(),
            [
                "waveplot.accepted.>",
                "waveplot.prepared.>",
                "waveplot.done.*",
                "waveplot.failed.*"
            ]
        );
        assert_eq!(
            s.accepted(&btc, Interval::M5),
            "waveplot.accepted.BTCUSDT.5m"
        );
        assert_eq!(s.events_stream(), "WAVEPLOT_EVENTS");
        let other = Subjects::new("lab.wave-plot").unwrap();
        assert_eq!(other.events_stream(), "LAB_WAVE-PLOT_EVENTS");
        assert_eq!(
            s.prepared(&btc, Interval::M5),
            "waveplot.prepared.BTCUSDT.5m"
        );
        assert_eq!(s.done(PlotId::Bands), "waveplot.done.02b");
        assert_eq!(s.failed(Stage::Plot), "waveplot.failed.plot");
        assert_eq!(s.everything(), "waveplot.>");
        assert_eq!(s.watch(), "waveplot.watch");
        assert_eq!(s.price(&btc, Interval::M1), "waveplot.price.BTCUSDT.1m");
        assert_eq!(s.candle(&btc, Interval::M1), "waveplot.candle.BTCUSDT.1m");
        assert_eq!(s.anomaly(&btc, Interval::M1), "waveplot.anomaly.BTCUSDT.1m");
        assert_eq!(s.signal(&btc, Interval::M1), "waveplot.signal.BTCUSDT.1m");
    }

    #[test]
    fn every_subject_the_builders_write_is_classified_as_what_it_carries() {
        for s in [
            Subjects::default(),
            Subjects::new("lab.waveplot-2").unwrap(),
        ] {
            assert_eq!(s.classify(&s.render()), Some(SubjectKind::Render));
            for symbol in ["BTC", "ETHBTC", "1000SATS"].map(|t| Symbol::parse(t).unwrap()) {
                for interval in Interval::ALL {
                    assert_eq!(
                        s.classify(&s.accepted(&symbol, interval)),
                        Some(SubjectKind::Accepted {
                            symbol: symbol.clone(),
                            interval
                        })
                    );
                    assert_eq!(
                        s.classify(&s.prepared(&symbol, interval)),
                        Some(SubjectKind::Prepared {
                            symbol: symbol.clone(),
                            interval
                        })
                    );
                }
            }
            for plot in PlotId::ALL {
                assert_eq!(s.classify(&s.done(plot)), Some(SubjectKind::Done { plot }));
            }
            assert_eq!(s.classify(&s.watch()), Some(SubjectKind::Watch));
            let eth = Symbol::parse("ETHBTC").unwrap();
            for kind in Market::ALL {
                assert_eq!(
                    s.classify(&s.market(kind, &eth, Interval::H1)),
                    Some(SubjectKind::Market {
                        kind,
                        symbol: eth.clone(),
                        interval: Interval::H1
                    })
                );
            }
            for stage in Stage::ALL {
                assert_eq!(
                    s.classify(&s.failed(stage)),
                    Some(SubjectKind::Failed { stage })
                );
            }
        }
    }

    #[test]
    fn subjects_under_another_prefix_are_not_classified() {
        let s = Subjects::default();
        for foreign in [
            "other.render",
            "other.done.01",
            "waveplot2.done.01",
            "waveplot-lab.failed.plot",
            "lab.waveplot.done.01",
            "WAVEPLOT.done.01",
            "done.01",
            "waveplot",
            "",
        ] {
            assert_eq!(s.classify(foreign), None, "{foreign}");
        }
        let lab = Subjects::new("lab.waveplot").unwrap();
        assert_eq!(lab.classify("waveplot.done.01"), None);
        assert_eq!(lab.classify("lab.done.01"), None);
        assert_eq!(
            lab.classify("lab.waveplot.done.01"),
            Some(SubjectKind::Done {
                plot: PlotId::Overview
            })
        );
    }

    #[test]
    fn malformed_subjects_under_the_prefix_are_not_classified() {
        let s = Subjects::default();
        for bad in [
            "waveplot.",
            "waveplot..done.01",
            "waveplot.render.x",
            "waveplot.rendered",
            "waveplot.prepared",
            "waveplot.prepared.BTCUSDT",
            "waveplot.prepared.BTCUSDT.5m.x",
            "waveplot.prepared.BTCUSDT.7m",
            "waveplot.prepared.btc.5m",
            "waveplot.prepared.BTC.5m",
            "waveplot.prepared.BTCUSDT.1H",
            "waveplot.prepared.BTC$.5m",
            "waveplot.prepared.>",
            "waveplot.done",
            "waveplot.done.",
            "waveplot.done.1",
            "waveplot.done.02A",
            "waveplot.done.06",
            "waveplot.done.*",
            "waveplot.done.01.x",
            "waveplot.failed",
            "waveplot.failed.Plot",
            "waveplot.failed.render",
            "waveplot.failed.*",
            "waveplot.failed.gateway.01",
            "waveplot.unknown.01",
            "waveplot.watch.x",
            "waveplot.candle.BTCUSDT",
            "waveplot.candle.btcusdt.1m",
            "waveplot.trade.BTCUSDT.1m",
            "waveplot.signal.BTCUSDT.1m.x",
        ] {
            assert_eq!(s.classify(bad), None, "{bad}");
        }
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
