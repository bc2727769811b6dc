//! The shared time axis: candle times in UTC seconds mapped to pixels, with ticks on
//! round wall-clock times (every 4 h at midnight-aligned hours, every Monday, every
//! quarter...) and labels whose format follows the tick step, so a 3-day 5-minute
//! window reads `Aug 14 · 04:00 · 08:00` and a 2-year daily window reads `Jul · 2023`.
//! Everything is UTC: the blob's times are UTC and no time-zone database is bundled.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

use super::format::Civil;

/// Tick steps in seconds, from one second to two weeks.
const SECOND_STEPS: [i64; 22] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 14_400, 21_600,
    43_200, 86_400, 172_800, 604_800, 1_209_600,
];
/// Tick steps in calendar months, beyond two weeks.
const MONTH_STEPS: [i64; 8] = [1, 2, 3, 6, 12, 24, 60, 120];
/// 1970-01-05, the first Monday after the epoch, so weekly ticks fall on Mondays.
const FIRST_MONDAY: i64 = 4 * 86_400;
/// Average month, only to pick a step; ticks themselves follow the calendar.
const MONTH_SECS: f64 = 30.44 * 86_400.0;

/// How far apart the ticks are.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Seconds(i64),
    Months(i64),
}

/// A time axis over `start..end` (UTC seconds) with precomputed ticks.
#[derive(Debug, Clone)]
pub(crate) struct TimeAxis {
    start: f64,
    end: f64,
    step: Step,
    ticks: Vec<f64>,
}

impl TimeAxis {
    /// An axis over `start..end` with at most `max_ticks` labelled ticks.
    pub(crate) fn new(start: f64, end: f64, max_ticks: usize) -> Self {
        let end = if end > start { end } else { start + 1.0 };
        let span = end - start;
        let max_ticks = max_ticks.max(2) as f64;
        let step = SECOND_STEPS
            .iter()
            .find(|&&s| span / s as f64 <= max_ticks)
            .map(|&s| Step::Seconds(s))
            .unwrap_or_else(|| {
                let months = span / MONTH_SECS;
                let m = MONTH_STEPS
                    .iter()
                    .find(|&&m| months / m as f64 <= max_ticks);
                Step::Months(*m.unwrap_or(&MONTH_STEPS[MONTH_STEPS.len() - 1]))
            });
        let ticks = match step {
            Step::Seconds(s) => second_ticks(start, end, s),
            Step::Months(m) => month_ticks(start, end, m),
        };
        Self {
            start,
            end,
            step,
            ticks,
        }
    }

    /// The label of the tick at `t`.
    pub(crate) fn label(&self, t: f64) -> String {
        let c = Civil::from_secs(t.round() as i64);
        match self.step {
            Step::Seconds(s) if s < 60 => c.clock(true),
            Step::Seconds(s) if s < 86_400 && c.second_of_day != 0 => c.clock(false),
            Step::Seconds(_) => c.month_day(),
            Step::Months(m) if m >= 12 || c.month == 1 => c.year.to_string(),
            Step::Months(_) => c.month_name().to_owned(),
        }
    }

    /// Seconds per pixel over `width` pixels.
    pub(crate) fn secs_per_px(&self, width: f64) -> f64 {
        (self.end - self.start) / width.max(1.0)
    }
}

/// Multiples of `step` inside `start..=end`; weekly steps start on Mondays.
fn second_ticks(start: f64, end: f64, step: i64) -> Vec<f64> {
    let offset = if step % 604_800 == 0 { FIRST_MONDAY } else { 0 };
    let first = ((start as i64 - offset) as f64 / step as f64).ceil() as i64 * step + offset;
    (0..)
        .map(|k| (first + k * step) as f64)
        .take_while(|&t| t <= end)
        .collect()
}

/// First days of months that are multiples of `step` months, inside `start..=end`.
fn month_ticks(start: f64, end: f64, step: i64) -> Vec<f64> {
    let c = Civil::from_secs(start as i64);
    let mut index = c.year * 12 + i64::from(c.month) - 1;
    index += (step - index.rem_euclid(step)) % step;
    let mut ticks = Vec::new();
    loop {
        let t = Civil::month_start(index.div_euclid(12), index.rem_euclid(12) as u32 + 1) as f64;
        if t > end {
            return ticks;
        }
        if t >= start {
            ticks.push(t);
        }
        index += step;
    }
}

impl Ranged for TimeAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value - self.start) / (self.end - self.start);
        let length = f64::from(limit.1 - limit.0);
        limit.0 + (length * share).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Plotters asks twice: for bold lines with labels and for light lines. Only
        // the bold ticks exist here, so the light mesh stays empty instead of doubling them.
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        self.start..self.end
    }
}

impl ValueFormatter<f64> for TimeAxis {
    fn format(value: &f64) -> String {
        // Only reached without an axis at hand; the labels always come from format_ext.
        format!("{value}")
    }

    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUG_14: f64 = 1_660_435_200.0;

    #[test]
    fn a_three_day_window_gets_four_hourly_ticks_labelled_by_day_at_midnight() {
        let axis = TimeAxis::new(AUG_14, AUG_14 + 3.0 * 86_400.0, 18);
        assert_eq!(axis.step, Step::Seconds(14_400));
        assert_eq!(axis.ticks[0], AUG_14);
        assert_eq!(axis.label(axis.ticks[0]), "Aug 14");
        assert_eq!(axis.label(axis.ticks[1]), "04:00");
    }

    #[test]
    fn long_windows_tick_on_months_and_years() {
        let axis = TimeAxis::new(AUG_14, AUG_14 + 730.0 * 86_400.0, 8);
        assert_eq!(axis.step, Step::Months(3));
        assert_eq!(axis.label(axis.ticks[0]), "Oct");
        assert!(axis.ticks.iter().any(|&t| axis.label(t) == "2023"));
    }

    #[test]
    fn weekly_ticks_fall_on_mondays() {
        let axis = TimeAxis::new(AUG_14, AUG_14 + 60.0 * 86_400.0, 10);
        assert_eq!(axis.step, Step::Seconds(604_800));
        // 2022-08-15 was a Monday.
        assert_eq!(axis.ticks[0], AUG_14 + 86_400.0);
    }

    #[test]
    fn an_empty_span_still_makes_an_axis() {
        let axis = TimeAxis::new(AUG_14, AUG_14, 10);
        assert!(axis.range().end > axis.range().start);
    }
}
