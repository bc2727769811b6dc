//! Fixture loading and the tolerance check shared by the PyWavelets comparisons.

use std::path::PathBuf;

use serde::de::DeserializeOwned;

/// Parses `tests/fixtures/<name>`.
pub fn load<T: DeserializeOwned>(name: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// Largest magnitude in `x`, at least 1: the scale the 1e-9 tolerance is relative to.
pub fn scale(x: &[f64]) -> f64 {
    x.iter().fold(1.0f64, |m, v| m.max(v.abs()))
}

/// Asserts `|got - want| <= 1e-9 * scale` element-wise, naming the first failure.
pub fn assert_close(got: &[f64], want: &[f64], scale: f64, what: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} != {}",
        got.len(),
        want.len()
    );
    let tol = 1e-9 * scale;
    if let Some(i) = (0..got.len()).find(|&i| (got[i] - want[i]).abs() > tol) {
        panic!(
            "{what}: first mismatch at index {i}: got {}, want {} (|diff| {:e} > tol {:e})",
            got[i],
            want[i],
            (got[i] - want[i]).abs(),
            tol
        );
    }
}
