//! Compares the crate against fixtures written by `fixtures/generate.py` from
//! PyWavelets 1.9.0 and numpy (filters, wavedec/waverec, mra, and the
//! anomaly/signal/band numbers on real closes).

mod support;

use std::collections::HashMap;

use serde::Deserialize;
use support::{assert_close, load, scale};
use waveplot_wavelet::{
    Analysis, AnalysisParams, AnalysisPlan, Mode, Mra, MraKind, MraPlan, Signal, Wavelet,
    dwt_max_level, wavedec, waverec,
};

#[derive(Deserialize)]
struct Filters {
    dec_lo: Vec<f64>,
    dec_hi: Vec<f64>,
    rec_lo: Vec<f64>,
    rec_hi: Vec<f64>,
}

#[test]
fn all_four_filters_equal_pywavelets_bit_for_bit() {
    let fixtures: HashMap<String, Filters> = load("filters.json");
    assert_eq!(fixtures.len(), Wavelet::names().len());
    for (name, f) in &fixtures {
        let w = Wavelet::new(name).unwrap();
        assert_eq!(w.dec_lo(), f.dec_lo.as_slice(), "{name} dec_lo");
        assert_eq!(w.dec_hi(), f.dec_hi.as_slice(), "{name} dec_hi");
        assert_eq!(w.rec_lo(), f.rec_lo.as_slice(), "{name} rec_lo");
        assert_eq!(w.rec_hi(), f.rec_hi.as_slice(), "{name} rec_hi");
    }
}

#[derive(Deserialize)]
struct DwtFixtures {
    inputs: HashMap<String, Vec<f64>>,
    cases: Vec<DwtCase>,
}

#[derive(Deserialize)]
struct DwtCase {
    wavelet: String,
    mode: String,
    n: usize,
    level: usize,
    max_level: usize,
    /// Every band in full, or only its ends (large N in the edge-only modes).
    coeffs: Option<Vec<Vec<f64>>>,
    edges: Option<Edges>,
    waverec_len: usize,
    waverec: Option<Vec<f64>>,
}

/// The first and last few coefficients of each band, its length and its sum.
#[derive(Deserialize)]
struct Edges {
    len: Vec<usize>,
    head: Vec<Vec<f64>>,
    tail: Vec<Vec<f64>>,
    sum: Vec<f64>,
}

fn assert_edges_match(coeffs: &[Vec<f64>], edges: &Edges, scale: f64, what: &str) {
    let lens: Vec<usize> = coeffs.iter().map(Vec::len).collect();
    assert_eq!(lens, edges.len, "{what}: band lengths");
    for (band, got) in coeffs.iter().enumerate() {
        let (head, tail) = (&edges.head[band], &edges.tail[band]);
        assert_close(
            &got[..head.len()],
            head,
            scale,
            &format!("{what} band {band} head"),
        );
        assert_close(
            &got[got.len() - tail.len()..],
            tail,
            scale,
            &format!("{what} band {band} tail"),
        );
        let sum: f64 = got.iter().sum();
        let tol = scale * got.len() as f64;
        assert_close(
            &[sum],
            &[edges.sum[band]],
            tol,
            &format!("{what} band {band} sum"),
        );
    }
}

#[test]
fn wavedec_and_waverec_match_pywavelets_for_every_wavelet_mode_and_length() {
    let fx: DwtFixtures = load("dwt.json");
    assert!(fx.cases.len() > 200);
    for case in &fx.cases {
        let x = &fx.inputs[&case.n.to_string()];
        let w = Wavelet::new(&case.wavelet).unwrap();
        let mode: Mode = case.mode.parse().unwrap();
        let what = format!(
            "{} {} n={} level={}",
            case.wavelet, case.mode, case.n, case.level
        );
        assert_eq!(
            dwt_max_level(case.n, w.filter_len()),
            case.max_level,
            "{what}"
        );
        let coeffs = wavedec(x, &w, mode, case.level).unwrap();
        assert_eq!(coeffs.len(), case.level + 1, "{what}");
        match (&case.coeffs, &case.edges) {
            (Some(full), _) => {
                for (band, (got, want)) in coeffs.iter().zip(full).enumerate() {
                    assert_close(got, want, scale(x), &format!("{what} band {band}"));
                }
            }
            (None, Some(edges)) => assert_edges_match(&coeffs, edges, scale(x), &what),
            (None, None) => panic!("{what}: fixture has neither coeffs nor edges"),
        }
        let rec = waverec(&coeffs, &w, mode).unwrap();
        assert_eq!(rec.len(), case.waverec_len, "{what} waverec length");
        if let Some(want) = &case.waverec {
            assert_close(&rec, want, scale(x), &format!("{what} waverec"));
        }
    }
}

#[derive(Deserialize)]
struct MraFixtures {
    inputs: HashMap<String, Vec<f64>>,
    cases: Vec<MraCase>,
}

#[derive(Deserialize)]
struct MraCase {
    transform: String,
    wavelet: String,
    mode: String,
    level: usize,
    input: String,
    /// `pywt.mra` order: `[S_J, D_J, ..., D_1]`.
    output: Vec<Vec<f64>>,
}

/// Checks an [`Mra`] against `pywt.mra` output, including the smooths S_j = S_J + D_J + ... + D_{j+1}.
fn assert_mra_matches(mra: &Mra, want: &[Vec<f64>], x: &[f64], what: &str) {
    let j = mra.levels_used;
    assert_eq!(want.len(), j + 1, "{what}: band count");
    assert_close(
        &mra.smooths[j - 1],
        &want[0],
        scale(x),
        &format!("{what} S{j}"),
    );
    let mut smooth = want[0].clone();
    for level in (1..=j).rev() {
        let d = &want[j + 1 - level];
        assert_close(
            &mra.details[level - 1],
            d,
            scale(x),
            &format!("{what} D{level}"),
        );
        if level > 1 {
            smooth.iter_mut().zip(d).for_each(|(s, v)| *s += v);
            let name = format!("{what} S{}", level - 1);
            assert_close(&mra.smooths[level - 2], &smooth, scale(x), &name);
        }
    }
}

#[test]
fn dwt_mra_matches_pywt_mra_dwt_for_odd_and_even_lengths_and_several_modes() {
    let fx: MraFixtures = load("mra.json");
    let cases: Vec<_> = fx.cases.iter().filter(|c| c.transform == "dwt").collect();
    assert!(cases.len() >= 20);
    for case in cases {
        let x = &fx.inputs[&case.input];
        let w = Wavelet::new(&case.wavelet).unwrap();
        let mode: Mode = case.mode.parse().unwrap();
        let what = format!(
            "dwt {} {} n={} J={}",
            case.wavelet,
            case.mode,
            x.len(),
            case.level
        );
        let mut plan = MraPlan::new(x.len(), &w, MraKind::Dwt, mode, case.level).unwrap();
        assert_eq!(plan.levels_used(), case.level, "{what}");
        assert_mra_matches(&plan.process(x), &case.output, x, &what);
    }
}

#[test]
fn modwt_mra_matches_pywt_mra_swt_whenever_2_to_the_j_divides_n() {
    let fx: MraFixtures = load("mra.json");
    let cases: Vec<_> = fx.cases.iter().filter(|c| c.transform == "swt").collect();
    assert!(cases.len() >= 5);
    for case in cases {
        let x = &fx.inputs[&case.input];
        let w = Wavelet::new(&case.wavelet).unwrap();
        let what = format!("swt {} n={} J={}", case.wavelet, x.len(), case.level);
        let mut plan =
            MraPlan::new(x.len(), &w, MraKind::Modwt, Mode::Periodization, case.level).unwrap();
        assert_eq!(plan.levels_used(), case.level, "{what}");
        assert_mra_matches(&plan.process(x), &case.output, x, &what);
    }
}

#[derive(Deserialize)]
struct ClosesFixtures {
    cases: Vec<ClosesCase>,
}

#[derive(Deserialize)]
struct ClosesCase {
    name: String,
    wavelet: String,
    level: usize,
    closes: Vec<f64>,
    anomalies: ExpectedAnomalies,
    signals: ExpectedSignals,
    bands: Vec<ExpectedBand>,
    mra: Option<Vec<Vec<f64>>>,
}

#[derive(Deserialize)]
struct ExpectedAnomalies {
    median: f64,
    mad: f64,
    threshold: f64,
    indices: Vec<usize>,
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct ExpectedSignals {
    trend_level: usize,
    std: f64,
    buffer: f64,
    buy: usize,
    sell: usize,
    hold: usize,
    per_index: String,
}

#[derive(Deserialize)]
struct ExpectedBand {
    sigma: f64,
    mean_abs_diff: f64,
    range: f64,
    zero_crossings: usize,
    maxima: usize,
    minima: usize,
    peak_period_bars: Option<f64>,
    trough_period_bars: Option<f64>,
    amplitude: Option<f64>,
}

fn assert_scalar(got: f64, want: f64, scale: f64, what: &str) {
    assert_close(&[got], &[want], scale, what);
}

fn assert_option(got: Option<f64>, want: Option<f64>, scale: f64, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert_scalar(g, w, scale, what),
        _ => assert_eq!(got, want, "{what}"),
    }
}

fn check_anomalies(a: &Analysis, want: &ExpectedAnomalies, s: f64, what: &str) {
    assert_scalar(
        a.anomalies.median,
        want.median,
        s,
        &format!("{what} median"),
    );
    assert_scalar(a.anomalies.mad, want.mad, s, &format!("{what} mad"));
    assert_scalar(
        a.anomalies.threshold,
        want.threshold,
        s,
        &format!("{what} threshold"),
    );
    let indices: Vec<usize> = a.anomalies.points.iter().map(|p| p.index).collect();
    assert_eq!(indices, want.indices, "{what} anomaly indices");
    let values: Vec<f64> = a.anomalies.points.iter().map(|p| p.value).collect();
    assert_close(&values, &want.values, s, &format!("{what} anomaly values"));
}

fn check_signals(a: &Analysis, want: &ExpectedSignals, s: f64, what: &str) {
    let got = &a.signals;
    assert_eq!(got.trend_level, want.trend_level, "{what} trend level");
    assert_scalar(got.std, want.std, s, &format!("{what} std"));
    assert_scalar(got.buffer, want.buffer, s, &format!("{what} buffer"));
    assert_eq!(
        (got.buy, got.sell, got.hold),
        (want.buy, want.sell, want.hold),
        "{what} counts"
    );
    let letters: String = got
        .per_index
        .iter()
        .map(|sig| match sig {
            Signal::Buy => 'B',
            Signal::Sell => 'S',
            Signal::Hold => 'H',
        })
        .collect();
    assert_eq!(letters, want.per_index, "{what} per-index signals");
}

fn check_bands(a: &Analysis, want: &[ExpectedBand], s: f64, what: &str) {
    assert_eq!(a.bands.len(), want.len(), "{what} band count");
    for (got, want) in a.bands.iter().zip(want) {
        let what = format!("{what} D{}", got.level);
        assert_scalar(got.sigma, want.sigma, s, &format!("{what} sigma"));
        assert_scalar(
            got.mean_abs_diff,
            want.mean_abs_diff,
            s,
            &format!("{what} mean|Δ|"),
        );
        assert_scalar(got.range, want.range, s, &format!("{what} range"));
        let counts = (got.zero_crossings, got.maxima, got.minima);
        assert_eq!(
            counts,
            (want.zero_crossings, want.maxima, want.minima),
            "{what} counts"
        );
        assert_option(
            got.peak_period_bars,
            want.peak_period_bars,
            1.0,
            &format!("{what} peak period"),
        );
        assert_option(
            got.trough_period_bars,
            want.trough_period_bars,
            1.0,
            &format!("{what} trough period"),
        );
        assert_option(
            got.amplitude,
            want.amplitude,
            s,
            &format!("{what} amplitude"),
        );
    }
}

#[test]
fn the_default_modwt_has_no_wrap_around_artefacts_at_the_window_edges() {
    let fx: ClosesFixtures = load("closes.json");
    for case in &fx.cases {
        let run = |mode| {
            let params = AnalysisParams {
                mode,
                ..AnalysisParams::default()
            };
            let mut plan = AnalysisPlan::new(case.closes.len(), &params).unwrap();
            plan.run(&case.closes, 300.0).unwrap()
        };
        let (padded, circular) = (run(Mode::Symmetric), run(Mode::Periodization));
        let edge = |a: &waveplot_wavelet::Analysis| {
            let d1 = &a.mra.details[0];
            d1[0].abs().max(d1[d1.len() - 1].abs())
        };
        let typical = padded.anomalies.median + padded.anomalies.mad;
        assert!(
            edge(&padded) < padded.anomalies.threshold,
            "{}: edge |D1| {} is an anomaly",
            case.name,
            edge(&padded)
        );
        let jump = (case.closes[0] - case.closes[case.closes.len() - 1]).abs();
        if jump > 20.0 * typical {
            assert!(
                edge(&circular) > circular.anomalies.threshold,
                "{}: the circular MODWT should show the wrap",
                case.name
            );
        }
        let n = case.closes.len();
        for (t, x) in case.closes.iter().enumerate() {
            let sum: f64 = padded.mra.details.iter().map(|d| d[t]).sum::<f64>()
                + padded.mra.smooths[padded.levels_used - 1][t];
            assert!(
                (sum - x).abs() <= 1e-9 * x.abs(),
                "{} t={t}/{n}: {sum} != {x}",
                case.name
            );
        }
    }
}

#[test]
fn analysis_of_real_btc_closes_matches_numpy_anomalies_signals_and_bands() {
    let fx: ClosesFixtures = load("closes.json");
    assert_eq!(fx.cases.len(), 4);
    for case in &fx.cases {
        // The reference is pywt's swt MRA, which is circular: periodization mode.
        let params = AnalysisParams {
            wavelet: Wavelet::new(&case.wavelet).unwrap(),
            mode: Mode::Periodization,
            ..AnalysisParams::default()
        };
        let mut plan = AnalysisPlan::new(case.closes.len(), &params).unwrap();
        let a = plan.run(&case.closes, 300.0).unwrap();
        let what = format!("{} {}", case.name, case.wavelet);
        assert_eq!(a.levels_used, case.level, "{what} levels");
        let s = scale(&case.closes);
        if let Some(mra) = &case.mra {
            assert_mra_matches(&a.mra, mra, &case.closes, &what);
        }
        check_anomalies(&a, &case.anomalies, s, &what);
        check_signals(&a, &case.signals, s, &what);
        check_bands(&a, &case.bands, s, &what);
    }
}
