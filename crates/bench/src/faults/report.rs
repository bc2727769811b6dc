//! The suite's outcome: the counts of each phase, every check, the problems and the
//! reasons of failed requests, summarised from what the clients recorded, as the
//! `faults` object of the JSON report and as a table for a terminal.

use std::time::Instant;

use serde::Serialize;

use super::PHASES;
use super::classify::Class;
use super::load::Shared;
use super::settings::Settings;

/// Counts of one phase of the suite (the fault being injected when the request was sent).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phase {
    /// The fault, or `baseline`/`recovery`.
    pub name: String,
    /// Requests sent.
    pub sent: usize,
    /// All six charts done.
    pub complete: usize,
    /// Accepted, then ended with a reason for every missing chart.
    pub failed: usize,
    /// Not accepted: answered with an error at the door.
    pub refused: usize,
    /// Ended without a reason for a missing chart, or the connection broke.
    pub unexplained: usize,
    /// No final state within the deadline plus the margin.
    pub hung: usize,
}

impl Phase {
    fn count(&mut self, class: &Class) {
        self.sent += 1;
        match class {
            Class::Complete => self.complete += 1,
            Class::Failed(_) => self.failed += 1,
            Class::Refused(_) => self.refused += 1,
            Class::Unexplained(_) => self.unexplained += 1,
            Class::Hung(_) => self.hung += 1,
        }
    }

    /// The counts as a row of the table.
    fn row(&self, name: &str) -> String {
        format!(
            "{name:<27} {:>6} {:>8} {:>6} {:>7} {:>11} {:>6}\n",
            self.sent, self.complete, self.failed, self.refused, self.unexplained, self.hung
        )
    }
}

/// One thing the suite asserts about the system.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked.
    pub what: String,
    /// Whether it held.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// The outcome of the fault suite (the `faults` object of the JSON report).
#[derive(Debug, Clone, Serialize)]
pub struct Faults {
    /// Requests sent during the suite.
    pub sent: usize,
    /// Requests with all six charts done.
    pub complete: usize,
    /// Accepted requests that failed with a reason.
    pub failed: usize,
    /// Requests refused at the door with a reason (not accepted).
    pub refused: usize,
    /// Requests with no final state within the deadline plus the margin (must be 0).
    pub hung: usize,
    /// Requests that ended without a reason (must be 0).
    pub unexplained: usize,
    /// True when every check held: the services were ready again after each fault,
    /// garbage and unknown-major blobs were handled as documented, no service but the
    /// killed plotter and prepare was restarted, and fresh renders completed afterwards.
    pub recovered: bool,
    /// The render deadline the stack ran with, s.
    pub deadline_s: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// Wall time of the suite, s.
    pub wall_s: f64,
    /// Counts per phase.
    pub phases: Vec<Phase>,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// What the unexplained and hung requests reported (at most a few).
    pub problems: Vec<String>,
    /// The distinct reasons of failed requests, with their phase and count.
    pub reasons: Vec<(String, String, usize)>,
}

impl Faults {
    /// True when nothing hung or went unexplained and every check held.
    pub fn passed(&self) -> bool {
        self.hung == 0 && self.unexplained == 0 && self.recovered
    }

    /// The counts and checks as a table for a terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "\nfault suite: {} clients, deadline {} s, {:.0} s\nphase                        sent complete failed refused unexplained   hung\n",
            self.clients, self.deadline_s, self.wall_s
        );
        for p in &self.phases {
            out += &p.row(&p.name);
        }
        let total = Phase {
            name: String::new(),
            sent: self.sent,
            complete: self.complete,
            failed: self.failed,
            refused: self.refused,
            unexplained: self.unexplained,
            hung: self.hung,
        };
        out += &total.row("total");
        out += &self.findings();
        out += &format!(
            "fault suite {}\n",
            if self.passed() { "passed" } else { "FAILED" }
        );
        out
    }

    /// The checks, the problems and the reasons of failed requests, for the table.
    fn findings(&self) -> String {
        let mut out = String::from("\nchecks\n");
        for c in &self.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            out += &format!("  {mark} {}: {}\n", c.what, c.detail);
        }
        for p in &self.problems {
            out += &format!("  problem: {p}\n");
        }
        if !self.reasons.is_empty() {
            out += "\nreasons of failed and refused requests (phase sent in, count)\n";
        }
        for (phase, reason, n) in &self.reasons {
            out += &format!("  {phase} ×{n}: {reason}\n");
        }
        out
    }
}

/// The outcome from what the clients recorded and the checks made.
pub(super) fn summarise(
    settings: &Settings,
    shared: &Shared,
    checks: Vec<Check>,
    started: Instant,
) -> Faults {
    let records = shared
        .records
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut phases: Vec<Phase> = PHASES
        .iter()
        .map(|name| Phase {
            name: (*name).to_owned(),
            ..Phase::default()
        })
        .collect();
    let mut total = Phase::default();
    for (phase, class) in records.iter() {
        phases[*phase].count(class);
        total.count(class);
    }
    let (problems, reasons) = problems_and_reasons(&records);
    Faults {
        sent: total.sent,
        complete: total.complete,
        failed: total.failed,
        refused: total.refused,
        hung: total.hung,
        unexplained: total.unexplained,
        recovered: checks.iter().all(|c| c.ok),
        deadline_s: settings.deadline_s,
        clients: settings.clients,
        wall_s: started.elapsed().as_secs_f64(),
        phases,
        checks,
        problems,
        reasons,
    }
}

/// What the first few unexplained and hung requests reported, and the distinct reasons
/// of failed and refused requests with their phase and count.
fn problems_and_reasons(records: &[(usize, Class)]) -> (Vec<String>, Vec<(String, String, usize)>) {
    let mut problems = Vec::new();
    let mut reasons: Vec<(String, String, usize)> = Vec::new();
    for (phase, class) in records {
        match class {
            Class::Unexplained(why) | Class::Hung(why) if problems.len() < 10 => {
                problems.push(format!("{}: {why}", PHASES[*phase]));
            }
            Class::Failed(why) | Class::Refused(why) => {
                let phase = PHASES[*phase].to_owned();
                let why = &shorten(why);
                match reasons.iter_mut().find(|(p, r, _)| *p == phase && r == why) {
                    Some((_, _, n)) => *n += 1,
                    None => reasons.push((phase, why.to_owned(), 1)),
                }
            }
            _ => {}
        }
    }
    (problems, reasons)
}

/// `text` cut to a length a table row can show.
fn shorten(text: &str) -> String {
    const MAX: usize = 240;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
