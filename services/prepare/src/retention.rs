//! Retention: the store is bounded. Blobs, charts and cached candles expire by age, and
//! past a total size the least recently written or used go first; candle chunks that no series head lists
//! (left by a replica that lost a race, or by a crash between writes) are collected.
//! An expired result is simply computed again when it is asked for: prepare reuses a
//! blob only if it is there, and a plotter redraws a chart that is gone.
//!
//! A blob's and its charts' age counts from their write or from the last render that
//! used them ([`Uses`]), whichever is later: what is in use goes last, and a render
//! answered from a stored blob and stored charts does not lose them to the next sweep.
//! Nothing written or used in the last [`MIN_AGE`] is deleted, for size or for age, and
//! nothing at all in the first [`MIN_AGE`] after prepare starts (the uses before a
//! restart are not remembered, and the gateway may still answer renders from them).
//! Uses are remembered by the replica that handed the window out: with several prepare
//! replicas, one may sweep what another has just handed out once that is older than
//! [`MIN_AGE`] by its write; the render then fails, and the next request computes it
//! again.
//!
//! The sweep runs in prepare, at start and then periodically, and works with any store
//! (S3 lifecycle rules would cover age only, and not every S3-compatible server has
//! them). Several prepare replicas may sweep at once: deleting is idempotent.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use waveplot_protocol::{BlobKey, PlotKey, SceneKey};
use waveplot_service::{Listed, Store, StoreError};

use crate::source::CandleCache;

/// The folders of the store that retention covers.
const FOLDERS: [&str; 3] = [BlobKey::FOLDER, PlotKey::FOLDER, "candles/"];
/// A candle chunk that its series' head does not list is collected after this long (a
/// replica writes its chunks before the head that lists them).
const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// What a render wrote or used this recently is never deleted: renders in flight read
/// it, and the gateway answers a finished render from memory for less than this after
/// accepting it.
pub const MIN_AGE: Duration = Duration::from_secs(600);

/// Windows whose last use [`Uses`] remembers: about 2 MB at most.
pub const MAX_USES: usize = 16_384;

/// When renders last used each window (blob and charts), as prepare hands them out,
/// and when this record began (prepare's start). In memory only, for at most
/// [`MAX_USES`] windows, the longest unused forgotten first (a full record looks through
/// all of them to find it: tens of microseconds); more than [`MAX_USES`] new windows in
/// [`MIN_AGE`] (27 a second) forget uses younger than that. After a restart, ages count
/// from writes again. Clones share the record.
#[derive(Debug, Clone)]
pub struct Uses {
    last: Arc<Mutex<HashMap<String, i64>>>,
    since_ms: i64,
}

impl Default for Uses {
    /// An empty record that begins now.
    fn default() -> Self {
        Self::since(now_ms())
    }
}

impl Uses {
    /// An empty record that begins at `since_ms` (Unix ms).
    pub fn since(since_ms: i64) -> Self {
        Self {
            last: Arc::default(),
            since_ms,
        }
    }

    /// Notes that a render used the window of `key` at `now_ms` (Unix ms).
    pub fn record(&self, key: &BlobKey, now_ms: i64) {
        let mut uses = self.lock();
        if uses.len() >= MAX_USES && !uses.contains_key(key.window_path()) {
            let oldest = uses.iter().min_by_key(|&(_, &t)| t).map(|(w, _)| w.clone());
            if let Some(oldest) = oldest {
                uses.remove(&oldest);
            }
        }
        let last = uses.entry(key.window_path().to_owned()).or_insert(now_ms);
        *last = (*last).max(now_ms);
    }

    /// When a render last used the window of the stored object `key`, if it is a blob,
    /// a chart or a chart's scene and one did.
    pub fn last(&self, key: &str) -> Option<i64> {
        let window = if let Ok(blob) = BlobKey::parse(key) {
            blob.window_path().to_owned()
        } else if let Ok(scene) = SceneKey::parse(key) {
            scene.window_path().to_owned()
        } else {
            PlotKey::parse(key).ok()?.window_path().to_owned()
        };
        self.lock().get(&window).copied()
    }

    /// Forgets uses before `cutoff_ms`: by then their objects' ages no longer matter.
    fn forget_before(&self, cutoff_ms: i64) {
        self.lock().retain(|_, &mut t| t >= cutoff_ms);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long and how much the store keeps.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Objects older than this are deleted.
    pub max_age: Duration,
    /// Past this many bytes in all, the least recently written or used objects are
    /// deleted.
    pub max_bytes: u64,
    /// Objects written or used more recently than this, and every object in this long
    /// after the record of uses began, are never deleted (a render in flight may still
    /// read them); [`MIN_AGE`] in service.
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
pub async fn run(store: Store, retention: Retention, uses: Uses, shutdown: CancellationToken) {
    loop {
        match sweep(&store, &retention, &uses, now_ms()).await {
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
/// least recently written or used objects until the rest fits in the byte budget; never
/// what [`Retention::min_age`] keeps.
pub async fn sweep(
    store: &Store,
    retention: &Retention,
    uses: &Uses,
    now_ms: i64,
) -> Result<Swept, StoreError> {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    uses.forget_before(now_ms.saturating_sub(ms(retention.max_age)));
    let mut objects = Vec::new();
    for folder in FOLDERS {
        objects.extend(store.list(folder).await?);
    }
    let orphans = orphans(store, &objects, now_ms).await;
    // Each object with when it was last written or its window used.
    let objects = objects.into_iter().map(|o| {
        let touched = uses
            .last(&o.key)
            .map_or(o.modified_ms, |t| t.max(o.modified_ms));
        (o, touched)
    });
    let since =
        |t: i64| Duration::from_millis(u64::try_from(now_ms.saturating_sub(t)).unwrap_or(0));
    let age = |&(_, touched): &(Listed, i64)| since(touched);
    let young = |o: &(Listed, i64)| since(o.1.max(uses.since_ms)) < retention.min_age;
    let (mut doomed, mut kept): (Vec<_>, Vec<_>) = objects
        .partition(|o| !young(o) && (age(o) > retention.max_age || orphans.contains(&o.0.key)));
    kept.sort_by_key(|&(_, touched)| std::cmp::Reverse(touched));
    let mut total = 0u64;
    let (fits, over): (Vec<_>, Vec<_>) = kept.into_iter().partition(|o| {
        total = total.saturating_add(o.0.size);
        total <= retention.max_bytes || young(o)
    });
    doomed.extend(over);
    let mut swept = Swept {
        kept: fits.len(),
        kept_bytes: fits.iter().map(|o| o.0.size).sum(),
        ..Swept::default()
    };
    for (o, touched) in doomed {
        // Used since it was listed: a render has just been handed it.
        if uses.last(&o.key).is_some_and(|t| t > touched) {
            swept.kept += 1;
            swept.kept_bytes += o.size;
            continue;
        }
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
        let kept = sweep(&store, &retention(3600, u64::MAX), &Uses::default(), now)
            .await
            .unwrap();
        assert_eq!((kept.deleted, kept.kept, kept.kept_bytes), (0, 2, 6));
        let later = now + 3_601_000;
        let swept = sweep(&store, &retention(3600, u64::MAX), &Uses::default(), later)
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
        let swept = sweep(&store, &retention(3600, 250), &Uses::default(), now_ms())
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
        let swept = sweep(&store, &young, &Uses::default(), now_ms())
            .await
            .unwrap();
        assert_eq!(
            swept.deleted, 0,
            "objects younger than the minimum age stay"
        );
    }

    /// A blob key and one of its chart keys, for the window ending at `end_ms`.
    fn window(end_ms: i64) -> (BlobKey, PlotKey) {
        let blob = BlobKey::parse(&format!(
            "analysis/BTCUSDT/5m/{end_ms}-864-0123456789abcdef.msgpack"
        ))
        .unwrap();
        let zone = waveplot_protocol::TimeZone::utc();
        let format = waveplot_protocol::ImageFormat::Png;
        let plot = blob.plot_key(
            waveplot_protocol::PlotId::Overview,
            (1280, 720),
            format,
            &zone,
        );
        (blob, plot)
    }

    /// Stores 100 bytes under the blob key and the chart key of `w`.
    async fn put_window(store: &Store, (blob, plot): &(BlobKey, PlotKey)) {
        for key in [blob.as_str(), plot.as_str()] {
            store.put(key, vec![0u8; 100].into()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_window_in_use_goes_last_and_not_at_all_within_the_minimum_age() {
        let store = Store::memory();
        let (old, new) = (window(1_000), window(2_000));
        for w in [&old, &new] {
            put_window(&store, w).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let uses = Uses::default();
        uses.record(&old.0, now_ms());
        assert_eq!(
            uses.last(old.1.as_str()),
            uses.last(old.0.as_str()),
            "its charts too"
        );
        let scene = old.0.scene_key(
            waveplot_protocol::PlotId::Overview,
            (1280, 720),
            &waveplot_protocol::TimeZone::utc(),
        );
        assert_eq!(
            uses.last(scene.as_str()),
            uses.last(old.0.as_str()),
            "and its scenes"
        );
        let swept = sweep(&store, &retention(3600, 250), &uses, now_ms())
            .await
            .unwrap();
        assert_eq!((swept.deleted, swept.kept_bytes), (2, 200));
        let mut expected = [old.0.as_str(), old.1.as_str()];
        expected.sort_unstable();
        assert_eq!(keys(&store).await, expected, "the window used last stays");

        let later = now_ms() + 7_200_000;
        uses.record(&old.0, later - 1_000);
        let swept = sweep(&store, &retention(3600, u64::MAX), &uses, later)
            .await
            .unwrap();
        assert_eq!(swept.deleted, 0, "used a second ago, written two hours ago");
        let mut young = retention(3600, 50);
        young.min_age = MIN_AGE;
        let swept = sweep(&store, &young, &uses, later).await.unwrap();
        assert_eq!(swept.deleted, 0, "used within the minimum age");
        let swept = sweep(&store, &young, &uses, later + 3_600_000)
            .await
            .unwrap();
        assert_eq!(swept.deleted, 2, "unused for longer than the age limit");
        assert_eq!(uses.last(old.0.as_str()), None, "and forgotten");
    }

    #[tokio::test]
    async fn nothing_is_deleted_within_the_minimum_age_of_its_write_its_use_or_the_start() {
        let store = Store::memory();
        let start = now_ms();
        put_window(&store, &window(1_000)).await;
        let mut strict = retention(60, 50);
        strict.min_age = MIN_AGE;
        let (min_age, uses) = (MIN_AGE.as_millis() as i64, Uses::since(start));
        let swept = sweep(&store, &strict, &uses, start + 120_000)
            .await
            .unwrap();
        assert_eq!(
            swept.deleted, 0,
            "past STORE_MAX_AGE and the budget, but just written"
        );
        let restarted = Uses::since(start + 2 * min_age);
        let at = start + 2 * min_age + 100_000;
        let swept = sweep(&store, &strict, &restarted, at).await.unwrap();
        assert_eq!(swept.deleted, 0, "in the first MIN_AGE after a start");
        let swept = sweep(&store, &strict, &restarted, start + 3 * min_age + 1_000)
            .await
            .unwrap();
        assert_eq!(swept.deleted, 2);
    }

    #[test]
    fn uses_are_bounded_and_the_longest_unused_forgotten_first() {
        let uses = Uses::default();
        let n = i64::try_from(MAX_USES).unwrap();
        for end in 0..n {
            uses.record(&window(end).0, 1_000 + end);
        }
        uses.record(&window(0).0, 1_000 + n);
        uses.record(&window(n).0, 1_001 + n);
        assert_eq!(uses.lock().len(), MAX_USES);
        assert_eq!(
            uses.last(window(1).0.as_str()),
            None,
            "the longest unused went"
        );
        assert_eq!(
            uses.last(window(0).0.as_str()),
            Some(1_000 + n),
            "used again late"
        );
        assert_eq!(uses.last(window(2).0.as_str()), Some(1_002));
        uses.record(&window(2).0, 5);
        assert_eq!(
            uses.last(window(2).0.as_str()),
            Some(1_002),
            "never back in time"
        );
        assert_eq!(uses.last("candles/BTCUSDT/5m/head.json"), None);
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
        let soon = sweep(
            &store,
            &retention(86_400, u64::MAX),
            &Uses::default(),
            now_ms(),
        )
        .await
        .unwrap();
        assert_eq!(soon.deleted, 0, "a chunk may be written before its head");
        let later = now_ms() + ORPHAN_AGE.as_millis() as i64 + 1000;
        let swept = sweep(
            &store,
            &retention(86_400, u64::MAX),
            &Uses::default(),
            later,
        )
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
