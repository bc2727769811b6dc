//! How one request ended, read from the gateway's final status JSON: complete (all six
//! charts), failed with a reason for every missing chart, or unexplained; a request
//! that never reached a final state is hung, and one the gateway did not accept was
//! refused at the door.

use serde_json::Value;

use waveplot_protocol::PlotId;

/// How one request ended.
#[derive(Debug, Clone)]
pub(super) enum Class {
    /// All six charts done.
    Complete,
    /// Accepted, then ended with a reason for every missing chart.
    Failed(String),
    /// Not accepted: the gateway answered with an error (a 503 while no prepare is
    /// reachable, say), which names the reason.
    Refused(String),
    /// Ended without a reason for a missing chart, or the connection broke.
    Unexplained(String),
    /// No final state within the deadline plus the margin.
    Hung(String),
}

/// Classifies a final status.
pub(super) fn classify(st: &Value) -> Class {
    let Some(plots) = st["plots"].as_object() else {
        return Class::Unexplained(format!("a status without plots: {st}"));
    };
    let unexplained: Vec<&String> = plots
        .iter()
        .filter(|(_, p)| {
            p["state"] != "done" && p["error"].as_str().is_none_or(|e| e.trim().is_empty())
        })
        .map(|(k, _)| k)
        .collect();
    let done = plots.values().filter(|p| p["state"] == "done").count();
    match st["state"].as_str() {
        Some("complete") if done == plots.len() && done == PlotId::ALL.len() => Class::Complete,
        Some("partial" | "failed") if unexplained.is_empty() => Class::Failed(format!(
            "{} {}: {}",
            st["state"],
            st["request"]["source"],
            reasons(plots)
        )),
        _ => Class::Unexplained(format!(
            "{} ended {} with no reason for {unexplained:?}",
            st["id"], st["state"]
        )),
    }
}

/// Each distinct reason of the charts not done once, with the charts it cost.
fn reasons(plots: &serde_json::Map<String, Value>) -> String {
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    for (plot, p) in plots.iter().filter(|(_, p)| p["state"] != "done") {
        let reason = p["error"].as_str().unwrap_or_default();
        match reasons.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, charts)) => charts.push(plot),
            None => reasons.push((reason, vec![plot])),
        }
    }
    reasons
        .iter()
        .map(|(r, charts)| format!("{}: {r}", charts.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}
