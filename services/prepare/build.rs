//! Compresses the bundled candle samples (`data/*.csv` at the repository root) into
//! `OUT_DIR`, so the binary carries them gzipped (about a fifth of their size) while the
//! repository keeps the plain CSVs that people read, diff and pass to `--input`.

use std::io::Write;
use std::path::Path;

/// The samples compiled into `prepare` (see `src/source/sample.rs`).
const SAMPLES: [&str; 3] = [
    "BTCUSDT-5m-2022-07-14_2022-08-16.csv",
    "BTCUSDT-1h-2021-Q1.csv",
    "ETHUSDT-5m-2026-01-02_2026-01-06.csv",
];

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for name in SAMPLES {
        let csv_path = data.join(name);
        println!("cargo:rerun-if-changed={}", csv_path.display());
        let csv = std::fs::read(&csv_path).expect("read a bundled sample from data/");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&csv).expect("compress in memory");
        let bytes = gz.finish().expect("compress in memory");
        std::fs::write(Path::new(&out).join(format!("{name}.gz")), bytes)
            .expect("write the compressed sample to OUT_DIR");
    }
}
