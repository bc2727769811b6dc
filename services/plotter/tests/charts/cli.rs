//! `plotter render`, the one-shot command, run as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

use waveplot_protocol::blob::{Index, TAIL_BYTES};
use waveplot_protocol::{Blob, PlotId};

use super::decode;

fn plotter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plotter"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the plotter binary runs")
}

fn fixture() -> String {
    format!(
        "{}/tests/fixtures/BTCUSDT-5m-864.msgpack",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs `plotter render --blob <the fixture> ARGS` and checks that it succeeded.
fn render_fixture(args: &[&str]) {
    let blob = fixture();
    let out = plotter(&[&["render", "--blob", blob.as_str()], args].concat());
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn render_all_writes_six_images_of_the_asked_size() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("charts");
    render_fixture(&[
        "--all",
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--width",
        "960",
    ]);
    for plot in PlotId::ALL {
        let bytes = std::fs::read(out_dir.join(format!("{plot}.png"))).unwrap();
        let (w, h, _) = decode(&bytes);
        assert_eq!((w, h), plot.size_for(Some(960), None), "{plot}");
    }
}

#[test]
fn render_one_chart_as_svg_in_a_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("bands.svg");
    render_fixture(&[
        "--plot",
        "02b",
        "--out",
        svg.to_str().unwrap(),
        "--format",
        "svg",
        "--tz",
        "Europe/Berlin",
    ]);
    let svg = text(&svg);
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("2022-08-14 02:00 – 2022-08-17 01:55 Europe/Berlin"));
}

#[test]
fn a_blob_with_a_section_index_draws_the_same_chart_as_one_without() {
    // The fixture was written before the index (schema 1.1) and is streamed whole;
    // written again, it has one, and the command reads the chart's sections by it.
    let dir = tempfile::tempdir().unwrap();
    let old = std::fs::read(fixture()).unwrap();
    let indexed = dir.path().join("indexed.msgpack");
    let new = Blob::decode(&old).unwrap().encode().unwrap();
    let index = |b: &[u8]| {
        let tail = &b[b.len().saturating_sub(TAIL_BYTES as usize)..];
        Index::from_tail(tail, b.len() as u64).unwrap()
    };
    assert!(index(&old).is_none() && index(&new).is_some());
    std::fs::write(&indexed, new).unwrap();
    let chart = |blob: &str, plot: &str| {
        let out = dir.path().join(format!("{plot}.png"));
        let run = plotter(&[
            "render",
            "--blob",
            blob,
            "--plot",
            plot,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::read(out).unwrap()
    };
    for plot in ["01", "02a", "04"] {
        assert_eq!(
            chart(indexed.to_str().unwrap(), plot),
            chart(&fixture(), plot),
            "{plot}"
        );
    }
}

#[test]
fn bad_input_is_refused_with_a_message_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.msgpack");
    std::fs::write(&junk, b"{\"not\": \"a blob\"}").unwrap();
    let missing = dir.path().join("missing.msgpack");
    let out_file = dir.path().join("x.png");
    let out_file = out_file.to_str().unwrap();
    for (args, want) in [
        (
            vec![
                "--blob",
                missing.to_str().unwrap(),
                "--plot",
                "01",
                "--out",
                out_file,
            ],
            "missing.msgpack",
        ),
        (
            vec![
                "--blob",
                junk.to_str().unwrap(),
                "--plot",
                "01",
                "--out",
                out_file,
            ],
            "not a waveplot blob",
        ),
        (
            vec![
                "--blob",
                &fixture(),
                "--plot",
                "01",
                "--out",
                out_file,
                "--width",
                "5",
            ],
            "5×",
        ),
        (
            vec!["--blob", &fixture(), "--plot", "07", "--out", out_file],
            "01, 02a, 02b, 03, 04, 05",
        ),
    ] {
        let out = plotter(&[&["render"], args.as_slice()].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(want), "{args:?}: no {want:?} in {stderr}");
        assert!(!Path::new(out_file).exists(), "{args:?} wrote an image");
    }
}
