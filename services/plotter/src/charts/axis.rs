//! The shared time axis: candle times in UTC seconds mapped to pixels, with ticks on
//! round wall-clock times of the chart's time zone (every 4 h at midnight-aligned
//! hours, every Monday, every quarter...) and labels whose format follows the tick
//! step, so a 3-day 5-minute window reads `Aug 14 · 04:00 · 08:00` and a 2-year daily
//! window reads `Jul · 2023`.
//!
//! The axis stays linear in real time, so candles keep their equal widths across a
//! daylight-saving change; only the ticks move: they are placed on round local times,
//! so the two ticks around a change are an hour closer or further apart.

use std::ops::Range;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

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

/// A time axis over `start..end` (UTC seconds) with precomputed ticks and labels in a
/// time zone.
#[derive(Debug, Clone)]
pub(crate) struct TimeAxis {
    start: f64,
    end: f64,
    step: Step,
    ticks: Vec<f64>,
    zone: TimeZone,
}

impl TimeAxis {
    /// An axis over `start..end` with at most `max_ticks` labelled ticks, labelled in `zone`.
    pub(crate) fn new(start: f64, end: f64, max_ticks: usize, zone: &TimeZone) -> Self {
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
        let local: Vec<DateTime> = match step {
            Step::Seconds(s) => second_ticks(local_secs(zone, start), local_secs(zone, end), s),
            Step::Months(m) => month_ticks(civil(zone, start).date(), civil(zone, end), m),
        };
        let mut ticks: Vec<f64> = local
            .into_iter()
            .filter_map(|dt| zone.to_timestamp(dt).ok())
            .map(|ts| ts.as_second() as f64)
            .filter(|t| (start..=end).contains(t))
            .collect();
        // A local time that a daylight-saving change skips lands on the next valid one.
        ticks.dedup();
        Self {
            start,
            end,
            step,
            ticks,
            zone: zone.clone(),
        }
    }

    /// The label of the tick at `t`.
    pub(crate) fn label(&self, t: f64) -> String {
        let c = civil(&self.zone, t.round());
        let midnight = c.time() == jiff::civil::Time::midnight();
        match self.step {
            Step::Seconds(s) if s < 60 => c.strftime("%H:%M:%S").to_string(),
            Step::Seconds(s) if s < 86_400 && !midnight => c.strftime("%H:%M").to_string(),
            Step::Seconds(_) => c.strftime("%b %-d").to_string(),
            Step::Months(m) if m >= 12 || c.month() == 1 => c.year().to_string(),
            Step::Months(_) => c.strftime("%b").to_string(),
        }
    }

    /// Seconds per pixel over `width` pixels.
    pub(crate) fn secs_per_px(&self, width: f64) -> f64 {
        (self.end - self.start) / width.max(1.0)
    }
}

/// The wall-clock date and time in `zone` of the instant `t` (UTC seconds); times
/// outside what a calendar can hold are clamped to its ends.
pub(crate) fn civil(zone: &TimeZone, t: f64) -> DateTime {
    let ts = Timestamp::from_second(t.floor() as i64).unwrap_or(if t < 0.0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    zone.to_datetime(ts)
}

/// The wall-clock time in `zone` of `t`, as seconds since the local epoch.
fn local_secs(zone: &TimeZone, t: f64) -> i64 {
    TimeZone::UTC
        .to_timestamp(civil(zone, t))
        .map_or(t as i64, |ts| ts.as_second())
}

/// Wall-clock times that are multiples of `step` seconds inside `start..=end` (local
/// epoch seconds); weekly steps start on Mondays.
fn second_ticks(start: i64, end: i64, step: i64) -> Vec<DateTime> {
    let offset = if step % 604_800 == 0 { FIRST_MONDAY } else { 0 };
    let first = (start - offset).div_euclid(step) * step + offset;
    let first = if first < start { first + step } else { first };
    (0..)
        .map(|k| first + k * step)
        .take_while(|&t| t <= end)
        .filter_map(|t| Timestamp::from_second(t).ok())
        .map(|ts| TimeZone::UTC.to_datetime(ts))
        .collect()
}

/// First days of months that are multiples of `step` months from `from` up to `end`.
fn month_ticks(from: Date, end: DateTime, step: i64) -> Vec<DateTime> {
    let index = i64::from(from.year()) * 12 + i64::from(from.month()) - 1;
    let first = index + (step - index.rem_euclid(step)) % step;
    let Ok(mut month) = Date::new(
        i16::try_from(first.div_euclid(12)).unwrap_or(i16::MAX),
        (first.rem_euclid(12) + 1) as i8,
        1,
    ) else {
        return Vec::new();
    };
    let mut ticks = Vec::new();
    while month.to_datetime(jiff::civil::Time::midnight()) <= end {
        ticks.push(month.to_datetime(jiff::civil::Time::midnight()));
        match month.checked_add(step.months()) {
            Ok(next) => month = next,
            Err(_) => break,
        }
    }
    ticks
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
    const UTC: TimeZone = TimeZone::UTC;

    #[test]
    fn a_three_day_window_gets_four_hourly_ticks_labelled_by_day_at_midnight() {
        let axis = TimeAxis::new(AUG_14, AUG_14 + 3.0 * 86_400.0, 18, &UTC);
        assert_eq!(axis.step, Step::Seconds(14_400));
        assert_eq!(axis.ticks[0], AUG_14);
        assert_eq!(axis.label(axis.ticks[0]), "Aug 14");
        assert_eq!(axis.label(axis.ticks[1]), "04:00");
    }

    #[test]
    fn long_windows_tick_on_months_and_years() {
        let axis = TimeAxis::new(AUG_14, AUG_14 + 730.0 * 86_400.0, 8, &UTC);
        assert_eq!(axis.step, Step::Months(3));
        assert_eq!(axis.label(axis.ticks[0]), "Oct");
        assert!(axis.ticks.iter().any(|&t| axis.label(t) == "2023"));
    }

    #[test]
    fn weekly_ticks_fall_on_mondays() {
        let axis = TimeAxis::new(AUG_14, AUG_14 + 60.0 * 86_400.0, 10, &UTC);
        assert_eq!(axis.step, Step::Seconds(604_800));
        // 2022-08-15 was a Monday.
        assert_eq!(axis.ticks[0], AUG_14 + 86_400.0);
    }

    #[test]
    fn an_empty_span_still_makes_an_axis() {
        let axis = TimeAxis::new(AUG_14, AUG_14, 10, &UTC);
        assert!(axis.range().end > axis.range().start);
    }

    fn berlin() -> TimeZone {
        jiff::tz::db().get("Europe/Berlin").unwrap()
    }

    #[test]
    fn ticks_fall_on_round_local_times_and_are_labelled_in_the_zone() {
        // 2022-08-14 00:00 UTC is 02:00 in Berlin (CEST, UTC+2).
        let axis = TimeAxis::new(AUG_14, AUG_14 + 3.0 * 86_400.0, 18, &berlin());
        assert_eq!(axis.step, Step::Seconds(14_400));
        assert_eq!(axis.ticks[0], AUG_14 + 7_200.0, "04:00 local");
        assert_eq!(axis.label(axis.ticks[0]), "04:00");
        assert_eq!(axis.label(AUG_14 + 22.0 * 3_600.0), "Aug 15");
    }

    #[test]
    fn ticks_stay_on_local_hours_across_a_daylight_saving_change() {
        // Berlin leaves summer time at 2022-10-30 03:00 CEST = 01:00 UTC.
        let start = 1_667_080_800.0; // 2022-10-29 22:00 UTC, 2022-10-30 00:00 CEST
        let axis = TimeAxis::new(start, start + 86_400.0, 8, &berlin());
        let labels: Vec<String> = axis.ticks.iter().map(|&t| axis.label(t)).collect();
        assert_eq!(axis.step, Step::Seconds(10_800));
        assert_eq!(labels[..4], ["Oct 30", "03:00", "06:00", "09:00"]);
        let hours = |k: usize| (axis.ticks[k + 1] - axis.ticks[k]) / 3_600.0;
        assert_eq!(hours(0), 4.0, "the night is an hour longer");
        assert_eq!(hours(1), 3.0);
    }

    #[test]
    fn month_ticks_are_local_first_days() {
        let axis = TimeAxis::new(AUG_14, AUG_14 + 730.0 * 86_400.0, 8, &berlin());
        let first = civil(&berlin(), axis.ticks[0]);
        assert_eq!((first.month(), first.day(), first.hour()), (10, 1, 0));
    }
}
