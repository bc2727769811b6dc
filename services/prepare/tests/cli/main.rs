//! `prepare analyze` as a user runs it: the real binary on the real candle samples.

mod helpers;

use helpers::{analyze, data, json_of};
use waveplot_protocol::Blob;

#[test]
fn the_reference_window_becomes_a_blob_and_a_json_export() {
    let run = analyze(&["--input", &data("BTCUSDT-5m-2022-07-14_2022-08-16.csv")]);
    run.assert_ok();
    let blob = run.blob();
    let h = &blob.header;
    assert_eq!((h.symbol.as_str(), h.interval.as_str()), ("BTCUSDT", "5m"));
    assert_eq!(
        h.candles, 864,
        "5m defaults to the original's 3-day look-back"
    );
    assert_eq!(h.first_open_ms, 1_660_435_200_000, "2022-08-14 00:00 UTC");
    assert_eq!(h.last_open_ms, 1_660_694_100_000, "2022-08-16 23:55 UTC");
    assert_eq!(
        blob.candles.close[0], 24_429.33,
        "first close of the original's window"
    );
    assert_eq!(
        blob.candles.close[863], 23_854.74,
        "last close of the original's window"
    );
    assert_eq!((h.levels_used, h.backend.as_str()), (8, "cpu"));

    let json = run.json();
    for field in [
        "symbol",
        "interval",
        "wavelet",
        "mode",
        "mra",
        "levels",
        "candles",
        "coeffs",
        "details",
        "smooths",
        "anomalies",
        "signals",
        "bands",
        "backend",
        "device",
        "timings_ms",
    ] {
        assert!(json.get(field).is_some(), "export lacks {field}");
    }
    assert_eq!(json["levels"], 8);
    assert_eq!(
        json["coeffs"].as_array().unwrap().len(),
        9,
        "cA_8, cD_8..cD_1"
    );
    assert_eq!(json["bands"].as_array().unwrap().len(), 8);
}

#[test]
fn the_export_adds_up_to_the_close_and_its_counts_add_up_to_the_window() {
    let run = analyze(&[
        "--input",
        &data("ETHUSDT-5m-2026-01-02_2026-01-06.csv"),
        "--wavelet",
        "db4",
    ]);
    run.assert_ok();
    let json = run.json();
    let close = json_of(&json["candles"]["close"]);
    let details: Vec<Vec<f64>> = json["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(json_of)
        .collect();
    let last_smooth = json_of(json["smooths"].as_array().unwrap().last().unwrap());
    for (i, x) in close.iter().enumerate() {
        let sum: f64 = details.iter().map(|d| d[i]).sum::<f64>() + last_smooth[i];
        assert!(
            (sum - x).abs() <= 1e-9 * x.abs(),
            "candle {i}: {sum} != {x}"
        );
    }
    let s = &json["signals"];
    let total =
        s["buy"].as_u64().unwrap() + s["sell"].as_u64().unwrap() + s["hold"].as_u64().unwrap();
    assert_eq!(total, close.len() as u64);
    let open_times = json["candles"]["open_time"].as_array().unwrap();
    let a = &json["anomalies"];
    for (idx, t) in a["indices"]
        .as_array()
        .unwrap()
        .iter()
        .zip(a["open_time"].as_array().unwrap())
    {
        assert_eq!(&open_times[idx.as_u64().unwrap() as usize], t);
    }
}

#[test]
fn names_come_from_the_file_name_or_the_error_says_which_flag_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("klines.csv");
    std::fs::copy(data("ETHUSDT-5m-2026-01-02_2026-01-06.csv"), &plain).unwrap();
    let run = analyze(&["--input", plain.to_str().unwrap()]);
    run.assert_fails_with("pass --interval");
    let run = analyze(&["--input", plain.to_str().unwrap(), "--interval", "5m"]);
    run.assert_fails_with("pass --symbol");
    let run = analyze(&[
        "--input",
        plain.to_str().unwrap(),
        "--interval",
        "5m",
        "--symbol",
        "eth",
    ]);
    run.assert_ok();
    assert_eq!(run.blob().header.symbol.as_str(), "ETHUSDT");
}

#[test]
fn a_window_larger_than_the_file_uses_all_candles_and_says_so() {
    let run = analyze(&[
        "--input",
        &data("ETHUSDT-5m-2026-01-02_2026-01-06.csv"),
        "--window",
        "5000",
    ]);
    run.assert_ok();
    assert_eq!(run.blob().header.candles, 1016);
    assert!(
        run.stderr.contains("larger than the file"),
        "{}",
        run.stderr
    );
}

#[test]
fn gaps_are_kept_and_reported() {
    let run = analyze(&[
        "--input",
        &data("BTCUSDT-1h-2021-Q1.csv"),
        "--window",
        "2158",
    ]);
    run.assert_ok();
    assert_eq!(
        run.blob().header.missing_candles,
        2,
        "two maintenance gaps in 2021 Q1"
    );
    assert!(run.stderr.contains("gaps"), "{}", run.stderr);
}

#[test]
fn a_short_window_caps_the_levels_and_says_so() {
    let run = analyze(&["--input", &data("BTCUSDT-1h-2021-Q1.csv"), "--window", "40"]);
    run.assert_ok();
    let h = run.blob().header;
    assert_eq!((h.levels_requested, h.levels_used), (8, 5));
    assert!(h.level_note.unwrap().contains("40 candles allow at most 5"));
    assert!(run.stderr.contains("5 used"), "{}", run.stderr);
}

#[test]
fn microsecond_files_as_binance_publishes_since_2025_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(data("ETHUSDT-5m-2026-01-02_2026-01-06.csv")).unwrap();
    let micros: String = src
        .lines()
        .skip(1)
        .map(|l| {
            let mut f: Vec<String> = l.split(',').map(str::to_owned).collect();
            f[0] += "000";
            f[6] += "999";
            f.join(",") + "\n"
        })
        .collect();
    let path = dir.path().join("ETHUSDT-5m-2026-01.csv");
    std::fs::write(&path, micros).unwrap();
    let a = analyze(&["--input", path.to_str().unwrap()]);
    let b = analyze(&["--input", &data("ETHUSDT-5m-2026-01-02_2026-01-06.csv")]);
    a.assert_ok();
    b.assert_ok();
    assert_eq!(a.blob().candles.open_time_ms, b.blob().candles.open_time_ms);
    assert_eq!(a.blob().analysis.details, b.blob().analysis.details);
}

#[test]
fn bad_input_gets_an_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("BTCUSDT-5m-none.csv");
    analyze(&["--input", missing.to_str().unwrap()]).assert_fails_with("cannot read");

    let broken = dir.path().join("BTCUSDT-5m-broken.csv");
    let mut text = std::fs::read_to_string(data("ETHUSDT-5m-2026-01-02_2026-01-06.csv")).unwrap();
    text = text.replacen("3097.99000000", "oops", 1);
    std::fs::write(&broken, text).unwrap();
    analyze(&["--input", broken.to_str().unwrap()])
        .assert_fails_with("line 2: close 'oops' is not a finite number");

    let eth = data("ETHUSDT-5m-2026-01-02_2026-01-06.csv");
    analyze(&["--input", &eth, "--interval", "1h"]).assert_fails_with("looks like 5m candles");
    analyze(&["--input", &eth, "--wavelet", "db99"]).assert_fails_with("db99");
    analyze(&["--input", &eth, "--mode", "mirror"]).assert_fails_with("mirror");

    let one = dir.path().join("BTCUSDT-5m-one.csv");
    let first_row = std::fs::read_to_string(&eth)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    std::fs::write(&one, first_row).unwrap();
    analyze(&["--input", one.to_str().unwrap()]).assert_fails_with("cannot analyse 1 candles");
}

#[test]
fn the_blob_on_disk_is_what_the_plotters_read() {
    let run = analyze(&["--input", &data("BTCUSDT-1h-2021-Q1.csv"), "--mra", "dwt"]);
    run.assert_ok();
    let bytes = std::fs::read(&run.out).unwrap();
    let blob = Blob::decode(&bytes).unwrap();
    assert_eq!(blob.header.params.mra.as_str(), "dwt");
    assert_eq!(
        blob.analysis.details.len(),
        blob.header.levels_used as usize
    );
}

#[test]
fn a_symbol_and_an_interval_from_the_bundled_sample_analyse_like_the_file() {
    let run = analyze(&["BTC", "5m", "--source", "sample"]);
    run.assert_ok();
    let h = run.blob().header;
    assert_eq!(h.candles, 864);
    assert_eq!(h.first_open_ms, 1_660_435_200_000);
    assert_eq!(
        h.source_label,
        "sample data (2022-08-14 00:00 UTC to 2022-08-16 23:55 UTC)"
    );
    analyze(&["SOL", "5m", "--source", "sample"]).assert_fails_with("bundled samples: BTCUSDT 5m");
}

#[test]
fn fetch_writes_a_span_as_klines_csv_with_a_header_and_keeps_the_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.csv");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_prepare"))
        .args(["fetch", "BTC", "1h", "--source", "sample"])
        .args(["--start", "2021-02-11", "--end", "2021-02-12", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("open_time_ms,open,high,low,close,volume,close_time_ms"));
    assert_eq!(
        lines.len(),
        1 + 24,
        "25 hours less the maintenance gap at 04:00"
    );
    assert!(lines[1].starts_with("1613001600000,"), "{}", lines[1]);
    assert!(stderr.contains("gaps"), "{stderr}");
}

#[test]
fn backend_vulkan_runs_the_pass_on_any_device_and_agrees_with_the_cpu() {
    let input = data("BTCUSDT-5m-2022-07-14_2022-08-16.csv");
    let gpu = analyze(&["--input", &input, "--backend", "vulkan", "--window", "2001"]);
    gpu.assert_ok();
    let cpu = analyze(&["--input", &input, "--backend", "cpu", "--window", "2001"]);
    cpu.assert_ok();
    let (g, c) = (gpu.blob(), cpu.blob());
    assert_eq!(
        (g.header.backend.as_str(), c.header.backend.as_str()),
        ("vulkan", "cpu")
    );
    assert!(g.header.device.contains("Vulkan"), "{}", g.header.device);
    assert_eq!(gpu.json()["backend"], "vulkan");
    let scale = c.candles.close.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let bands = g.analysis.details.iter().chain(&g.analysis.smooths);
    let want = c.analysis.details.iter().chain(&c.analysis.smooths);
    for (got, want) in bands.zip(want) {
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b}");
        }
    }
    assert_eq!(
        g.analysis.coeffs, c.analysis.coeffs,
        "wavedec stays on the CPU"
    );
}

#[test]
fn the_backend_choice_is_logged_with_its_reason() {
    let run = analyze(&["--input", &data("ETHUSDT-5m-2026-01-02_2026-01-06.csv")]);
    run.assert_ok();
    assert!(
        run.stderr.contains("backend: cpu (auto)")
            && run.stderr.contains("no hardware GPU; found: llvmpipe"),
        "{}",
        run.stderr
    );
}

/// The machines the tests run on have lavapipe and no hardware GPU.
#[test]
fn list_gpus_names_every_device_and_what_auto_takes() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prepare"))
        .arg("--list-gpus")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("llvmpipe") && l.ends_with("(CPU device, Vulkan)")),
        "{stdout}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("auto: cpu, no hardware GPU; found: llvmpipe")),
        "{stdout}"
    );
}

/// `auto` reads this verdict from a child process; on these machines it is the CPU.
#[test]
fn the_gpu_probe_prints_its_verdict_as_one_json_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prepare"))
        .arg("--gpu-probe")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let verdict: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(verdict["verdict"], "cpu", "{stdout}");
    assert!(
        verdict["reason"]
            .as_str()
            .is_some_and(|r| r.contains("llvmpipe")),
        "{stdout}"
    );
}
