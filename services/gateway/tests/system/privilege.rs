//! The store with a key per role, on Garage (a real S3 server with per-key bucket
//! permissions), laid out as compose lays it out: every service does its part with
//! its own key, and no key does more than its role needs.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use waveplot_service::{Store, StoreError};
use waveplot_testkit::{S3Key, Stack};

use crate::helpers::{post_render, wait_final};
use crate::{assert_png, sample};

/// Asserts that `what` was refused by the server (HTTP 403: object_store's
/// `PermissionDenied`, or for a listing, which it does not classify, the status its
/// error carries), not failed otherwise.
fn assert_refused<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Io { source, .. }) => assert!(
            matches!(*source, object_store::Error::PermissionDenied { .. })
                || format!("{source:?}").contains("status: 403,"),
            "{what}: not a refusal: {source:?}"
        ),
        other => panic!("{what} was allowed: {other:?}"),
    }
}

#[test]
fn every_role_renders_with_its_own_key_and_no_key_can_do_more() {
    let sys = Stack::builder()
        .garage()
        .render_deadline(Duration::from_secs(30))
        .start();
    let (code, created) = post_render(&sys.http(), &sample());
    assert_eq!(code, 200, "{created}\n{}", sys.logs());
    let id = created["id"].as_str().unwrap();
    let st = wait_final(&sys.http(), id, Duration::from_secs(60));
    assert_eq!(st["state"], "complete", "{st}\n{}", sys.logs());
    let chart: &Value = &st["plots"]["03"];
    assert_png(
        &sys.http(),
        chart["url"].as_str().unwrap(),
        chart["width"].as_u64().unwrap(),
        chart["height"].as_u64().unwrap(),
    );
    let chart = chart["key"].as_str().unwrap().to_owned();
    let blob = st["prepared"]["key"].as_str().unwrap().to_owned();
    for (role, service) in sys.services() {
        assert!(
            !service.log().contains("AccessDenied"),
            "{role} was refused something it needs:\n{}",
            service.log()
        );
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let open = |key| runtime.block_on(sys.store_with(key)).unwrap();
    let (admin, gateway, plotter, prepare): (Store, Store, Store, Store) = (
        open(S3Key::Admin),
        open(S3Key::Gateway),
        open(S3Key::Plotter),
        open(S3Key::Prepare),
    );
    let junk = || Bytes::from_static(b"forged");

    // The gateway reads charts, and nothing else; a plotter reads blobs and writes
    // charts, and cannot change a blob.
    assert!(runtime.block_on(gateway.exists(&chart)).unwrap());
    assert!(runtime.block_on(plotter.exists(&blob)).unwrap());
    let refused = [
        (
            "the gateway reading a blob",
            runtime.block_on(gateway.get(&blob)).map(drop),
        ),
        (
            "the gateway listing blobs",
            runtime.block_on(gateway.list("analysis/")).map(drop),
        ),
        (
            "the gateway writing a chart",
            runtime.block_on(gateway.put(&chart, junk())),
        ),
        (
            "the gateway deleting a chart",
            runtime.block_on(gateway.delete(&chart)),
        ),
        (
            "the gateway writing a blob",
            runtime.block_on(gateway.put(&blob, junk())),
        ),
        (
            "a plotter writing a blob",
            runtime.block_on(plotter.put(&blob, junk())),
        ),
        (
            "a plotter deleting a blob",
            runtime.block_on(plotter.delete(&blob)),
        ),
    ];
    for (what, result) in refused {
        assert_refused(what, result);
    }

    // prepare lists and deletes charts (its sweeper) and writes blobs.
    let charts = runtime.block_on(prepare.list("plots/")).unwrap();
    assert!(charts.len() >= 6, "{charts:?}");

    // Nothing refused was done anyway.
    let stored = runtime.block_on(admin.get(&blob)).unwrap().unwrap();
    assert_ne!(stored, junk(), "a refused write changed the blob");
    let stored = runtime.block_on(admin.get(&chart)).unwrap().unwrap();
    assert_ne!(stored, junk(), "a refused write changed the chart");
}
