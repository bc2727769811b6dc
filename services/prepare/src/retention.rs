//! Retention: the store is bounded. Blobs, charts and cached candles expire by age, and
//! past a total size the oldest go first; candle chunks that no series head lists
//! (left by a replica that lost a race, or by a crash between writes) are collected.
//! An expired result is simply computed again when it is asked for: prepare reuses a
//! blob only if it is there, and a plotter redraws a chart that is gone.
//!
//! The sweep runs in prepare, at start and then periodically, and works with any store
//! (S3 lifecycle rules would cover age only, and not every S3-compatible server has
//! them). Several prepare replicas may sweep at once: deleting is idempotent.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use waveplot_protocol::{BlobKey, PlotKey};
use waveplot_service::{Listed, Store, StoreError};

use crate::source::CandleCache;

/// The folders of the store that retention covers.
const FOLDERS: [&str; 3] = [BlobKey::FOLDER, PlotKey::FOLDER, "candles/"];
/// A candle chunk that its series' head does not list is collected after this long (a
/// replica writes its chunks before the head that lists them).
const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// How long and how much the store keeps.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Objects older than this are deleted.
    pub max_age: Duration,
    /// Past this many bytes in all, the oldest objects are deleted.
    pub max_bytes: u64,
    /// Objects younger than this are never deleted for size (a render in flight may
    /// still read them).
    pub min_age: Duration,
    /// How often the store is swept.
    pub every: Duration,
}

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Objects deleted.
    pub deleted: usize,
    /// Bytes they held.
    pub freed_bytes: u64,
    /// Objects kept.
    pub kept: usize,
    /// Bytes they hold.
    pub kept_bytes: u64,
}

/// Sweeps `store` at once and then every `retention.every`, until `shutdown`. A sweep
/// that fails (store down) is logged and tried again next time.
pub async fn run(store: Store, retention: Retention, shutdown: CancellationToken) {
    loop {
        match sweep(&store, &retention, now_ms()).await {
            Ok(s) if s.deleted > 0 => tracing::info!(
                deleted = s.deleted,
                freed_mib = s.freed_bytes >> 20,
                kept = s.kept,
                kept_mib = s.kept_bytes >> 20,
                "store swept"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = &e as &dyn std::error::Error,
                "cannot sweep the store; trying again later"
            ),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(retention.every) => {}
        }
    }
}

/// One sweep at `now_ms`: deletes what is too old, orphaned candle chunks, and then the
/// oldest objects until the rest fits in the byte budget.
pub async fn sweep(store: &Store, retention: &Retention, now_ms: i64) -> Result<Swept, StoreError> {
    let mut objects = Vec::new();
    for folder in FOLDERS {
        objects.extend(store.list(folder).await?);
    }
    let orphans = orphans(store, &objects, now_ms).await;
    let age =
        |o: &Listed| Duration::from_millis(u64::try_from(now_ms - o.modified_ms).unwrap_or(0));
    let (mut doomed, mut kept): (Vec<Listed>, Vec<Listed>) = objects
        .into_iter()
        .partition(|o| age(o) > retention.max_age || orphans.contains(&o.key));
    kept.sort_by_key(|o| std::cmp::Reverse(o.modified_ms));
    let mut total = 0u64;
    let (fits, over): (Vec<Listed>, Vec<Listed>) = kept.into_iter().partition(|o| {
        total = total.saturating_add(o.size);
        total <= retention.max_bytes || age(o) < retention.min_age
    });
    doomed.extend(over);
    let mut swept = Swept {
        kept: fits.len(),
        kept_bytes: fits.iter().map(|o| o.size).sum(),
        ..Swept::default()
    };
    for o in doomed {
        match store.delete(&o.key).await {
            Ok(()) => {
                swept.deleted += 1;
                swept.freed_bytes += o.size;
            }
            Err(e) => tracing::warn!(
                error = &e as &dyn std::error::Error,
                key = o.key,
                "cannot delete"
            ),
        }
    }
    metrics::counter!("waveplot_store_swept_objects_total").increment(swept.deleted as u64);
    metrics::gauge!("waveplot_store_bytes").set(swept.kept_bytes as f64);
    Ok(swept)
}

/// Candle chunks older than [`ORPHAN_AGE`] that their series' head does not list.
async fn orphans(store: &Store, objects: &[Listed], now_ms: i64) -> HashSet<String> {
    let cutoff = now_ms - ORPHAN_AGE.as_millis() as i64;
    let mut series: HashMap<&str, Vec<&Listed>> = HashMap::new();
    for o in objects.iter().filter(|o| o.key.starts_with("candles/")) {
        if let Some((prefix, name)) = o.key.rsplit_once('/') {
            if name != "head.json" {
                series.entry(prefix).or_default().push(o);
            }
        }
    }
    let mut out = HashSet::new();
    for (prefix, chunks) in series {
        let Some(listed) = CandleCache::listed_chunks(store, prefix).await else {
            continue;
        };
        out.extend(
            chunks
                .into_iter()
                .filter(|c| c.modified_ms < cutoff && !listed.contains(&c.key))
                .map(|c| c.key.clone()),
        );
    }
    out
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn retention(max_age_s: u64, max_bytes: u64) -> Retention {
        Retention {
            max_age: Duration::from_secs(max_age_s),
            max_bytes,
            min_age: Duration::ZERO,
            every: Duration::from_secs(60),
        }
    }

    async fn keys(store: &Store) -> Vec<String> {
        let mut all = Vec::new();
        for f in FOLDERS {
            all.extend(store.list(f).await.unwrap().into_iter().map(|o| o.key));
        }
        all.sort();
        all
    }

    #[tokio::test]
    async fn objects_past_the_age_limit_are_deleted_and_others_outside_the_folders_kept() {
        let store = Store::memory();
        store
            .put("analysis/a.msgpack", Bytes::from_static(b"1234"))
            .await
            .unwrap();
        store
            .put("plots/a/01.png", Bytes::from_static(b"12"))
            .await
            .unwrap();
        store
            .put("readyz-probe", Bytes::from_static(b"x"))
            .await
            .unwrap();
        let now = now_ms();
        let kept = sweep(&store, &retention(3600, u64::MAX), now)
            .await
            .unwrap();
        assert_eq!((kept.deleted, kept.kept, kept.kept_bytes), (0, 2, 6));
        let later = now + 3_601_000;
        let swept = sweep(&store, &retention(3600, u64::MAX), later)
            .await
            .unwrap();
        assert_eq!((swept.deleted, swept.freed_bytes, swept.kept), (2, 6, 0));
        assert!(keys(&store).await.is_empty());
        assert!(
            store.exists("readyz-probe").await.unwrap(),
            "only the covered folders"
        );
    }

    #[tokio::test]
    async fn past_the_byte_budget_the_oldest_go_first_but_never_the_young() {
        let store = Store::memory();
        for (i, key) in ["plots/1.png", "plots/2.png", "plots/3.png"]
            .iter()
            .enumerate()
        {
            store.put(key, Bytes::from(vec![0u8; 100])).await.unwrap();
            if i < 2 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let swept = sweep(&store, &retention(3600, 250), now_ms())
            .await
            .unwrap();
        assert_eq!((swept.deleted, swept.kept_bytes), (1, 200));
        assert_eq!(
            keys(&store).await,
            ["plots/2.png", "plots/3.png"],
            "the oldest went"
        );
        let mut young = retention(3600, 50);
        young.min_age = Duration::from_secs(600);
        let swept = sweep(&store, &young, now_ms()).await.unwrap();
        assert_eq!(
            swept.deleted, 0,
            "objects younger than the minimum age stay"
        );
    }

    #[tokio::test]
    async fn candle_chunks_no_head_lists_are_collected_once_old() {
        let store = Store::memory();
        let prefix = "candles/BTCUSDT/1m";
        store
            .put(&format!("{prefix}/0-59999.csv"), Bytes::from_static(b"a"))
            .await
            .unwrap();
        store
            .put(
                &format!("{prefix}/60000-119999.csv"),
                Bytes::from_static(b"b"),
            )
            .await
            .unwrap();
        let head =
            format!(r#"{{"v":1,"from_ms":0,"to_ms":59999,"chunks":["{prefix}/0-59999.csv"]}}"#);
        store
            .put(&format!("{prefix}/head.json"), head.into())
            .await
            .unwrap();
        let soon = sweep(&store, &retention(86_400, u64::MAX), now_ms())
            .await
            .unwrap();
        assert_eq!(soon.deleted, 0, "a chunk may be written before its head");
        let later = now_ms() + ORPHAN_AGE.as_millis() as i64 + 1000;
        let swept = sweep(&store, &retention(86_400, u64::MAX), later)
            .await
            .unwrap();
        assert_eq!(swept.deleted, 1);
        assert_eq!(
            keys(&store).await,
            [
                format!("{prefix}/0-59999.csv"),
                format!("{prefix}/head.json")
            ]
        );
    }
}
