//! The store against a real S3 server (s3s-fs, which checks signatures) and a local directory.

use std::time::Duration;

use bytes::Bytes;
use waveplot_service::{Store, StoreError};
use waveplot_testkit::{S3Key, S3Server};

fn vars(s3: &S3Server) -> Vec<(String, String)> {
    vars_for(s3, S3Key::Admin)
}

fn vars_for(s3: &S3Server, key: S3Key) -> Vec<(String, String)> {
    s3.env_for(key)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// One store of each kind: S3 on `s3`, a directory in `dir`, memory.
async fn every_kind(s3: &S3Server, dir: &std::path::Path) -> [Store; 3] {
    [
        Store::open_with("s3://waveplot", vars(s3)).await.unwrap(),
        Store::local_dir(dir).unwrap(),
        Store::memory(),
    ]
}

#[tokio::test]
async fn the_bucket_is_created_at_open_and_objects_round_trip() {
    let s3 = S3Server::start();
    let store = Store::open_with("s3://waveplot", vars(&s3)).await.unwrap();
    assert_eq!(
        store.describe(),
        format!("S3 bucket waveplot at {}", s3.endpoint())
    );
    let key = "analysis/BTCUSDT/5m/1-864-0123456789abcdef.msgpack";
    assert!(!store.exists(key).await.unwrap());
    assert_eq!(store.get(key).await.unwrap(), None);
    store.put(key, Bytes::from_static(b"blob")).await.unwrap();
    assert!(store.exists(key).await.unwrap());
    assert_eq!(
        store.get(key).await.unwrap().unwrap(),
        Bytes::from_static(b"blob")
    );
    store.check().await.unwrap();
    let again = Store::open_with("s3://waveplot", vars(&s3)).await;
    assert!(again.is_ok(), "an existing bucket is fine: {again:?}");
}

#[tokio::test]
async fn a_key_that_may_not_create_buckets_uses_them_as_they_are() {
    let s3 = S3Server::start_garage();
    let gateway = vars_for(&s3, S3Key::Gateway);
    let charts = Store::open_with("s3://waveplot-charts", gateway.clone())
        .await
        .expect("the key may not create the bucket, but may use it");
    charts.check().await.unwrap();
    let e = Store::open_with("s3://unmade", gateway.clone())
        .await
        .unwrap_err();
    let text = format!("{e}: {:?}", std::error::Error::source(&e));
    assert!(matches!(e, StoreError::Bucket { .. }), "{text}");
    assert!(text.contains("not allowed to create buckets"), "{text}");
    assert!(text.contains("NoSuchBucket"), "{text}");
    // Garage answers "already exists" before it asks whether the key may create: a
    // bucket the key may not use opens, and the readiness check says why it is no use.
    let data = Store::open_with("s3://waveplot", gateway.clone())
        .await
        .unwrap();
    let e = data.check().await.unwrap_err();
    assert!(format!("{e:?}").contains("AccessDenied"), "{e:?}");
    let mut wrong = gateway;
    wrong.retain(|(k, _)| k != "AWS_SECRET_ACCESS_KEY");
    wrong.push(("AWS_SECRET_ACCESS_KEY".into(), "0".repeat(64)));
    let e = Store::open_with("s3://waveplot-charts", wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Bucket { .. }),
        "a wrong secret still is: {e}"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_the_server_s_reason() {
    let s3 = S3Server::start();
    let mut v = vars(&s3);
    v.retain(|(k, _)| k != "AWS_SECRET_ACCESS_KEY");
    v.push(("AWS_SECRET_ACCESS_KEY".into(), "wrong".into()));
    let e = Store::open_with("s3://waveplot", v).await.unwrap_err();
    assert!(matches!(e, StoreError::Bucket { .. }), "{e}");
    assert!(e.to_string().contains("403"), "{e}");
}

#[tokio::test]
async fn the_keys_may_come_from_files_which_win_over_the_variables() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let mut v = vars(&s3);
    for (var, wrong) in [
        ("AWS_ACCESS_KEY_ID", "nobody"),
        ("AWS_SECRET_ACCESS_KEY", "wrong"),
    ] {
        let (_, key) = v.iter().find(|(k, _)| k == var).unwrap().clone();
        let file = dir.path().join(var);
        std::fs::write(&file, format!("{key}\n")).unwrap();
        v.retain(|(k, _)| k != var);
        v.push((var.into(), wrong.into()));
        v.push((format!("{var}_FILE"), file.to_str().unwrap().into()));
    }
    let store = Store::open_with("s3://waveplot", v.clone()).await.unwrap();
    store.put("k", Bytes::from_static(b"v")).await.unwrap();

    let missing = dir.path().join("missing").to_str().unwrap().to_owned();
    v.retain(|(k, _)| k != "AWS_SECRET_ACCESS_KEY_FILE");
    v.push(("AWS_SECRET_ACCESS_KEY_FILE".into(), missing));
    let e = Store::open_with("s3://waveplot", v).await.unwrap_err();
    assert!(matches!(e, StoreError::Url { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("cannot read AWS_SECRET_ACCESS_KEY_FILE"),
        "{e}"
    );
}

#[tokio::test]
async fn a_stopped_server_gives_errors_and_the_store_recovers_when_it_returns() {
    let mut s3 = S3Server::start();
    let store = Store::open_with("s3://waveplot", vars(&s3)).await.unwrap();
    s3.stop();
    let e = store.put("k", Bytes::from_static(b"x")).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "store put of k failed: cannot reach the S3 bucket waveplot at {}: Connection refused (os error 111); is the S3 server running?",
            s3.endpoint()
        )
    );
    assert!(store.check().await.is_err());
    s3.restart();
    store.put("k", Bytes::from_static(b"x")).await.unwrap();
    store.check().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_endpoint_says_what_to_check() {
    let port = waveplot_testkit::free_port();
    let v = vec![
        (
            "AWS_ENDPOINT".to_owned(),
            format!("http://127.0.0.1:{port}"),
        ),
        ("AWS_ALLOW_HTTP".to_owned(), "true".to_owned()),
    ];
    let e = Store::open_with("s3://waveplot", v).await.unwrap_err();
    assert!(e.to_string().contains("is the S3 server running"), "{e}");
}

#[tokio::test]
async fn file_and_memory_urls_work_and_others_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("store").display());
    let store = Store::open(&url).await.unwrap();
    store
        .put("plots/a/b.png", Bytes::from_static(b"png"))
        .await
        .unwrap();
    assert!(dir.path().join("store/plots/a/b.png").exists());
    let mem = Store::open("memory:///").await.unwrap();
    mem.put("x", Bytes::from_static(b"1")).await.unwrap();
    assert_eq!(
        mem.get("x").await.unwrap().unwrap(),
        Bytes::from_static(b"1")
    );
    for bad in ["ftp://x", "not a url", "file://relative/path"] {
        let e = Store::open(bad).await.unwrap_err();
        assert!(e.to_string().contains("use s3://BUCKET"), "{bad}: {e}");
    }
}

#[tokio::test]
async fn a_bad_store_url_or_an_unreachable_endpoint_keeps_the_cause_behind_its_advice() {
    let e = Store::open("s3//no-scheme").await.unwrap_err();
    assert!(
        matches!(
            &e,
            StoreError::Url {
                source: Some(_),
                ..
            }
        ),
        "{e:?}"
    );
    let chain = format!("{:#}", anyhow::Error::new(e));
    assert!(
        chain.contains("not a URL") && chain.ends_with(": relative URL without a base"),
        "{chain}"
    );

    let closed = waveplot_testkit::free_port();
    let vars = [
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{closed}")),
        ("AWS_ACCESS_KEY_ID", "k".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "s".to_owned()),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let e = Store::open_with("s3://waveplot", vars).await.unwrap_err();
    let StoreError::Bucket { reason, source, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(reason.contains("is the S3 server running"), "{reason}");
    assert!(source.is_some(), "the client's error is kept: {e:?}");
}

/// A prefix or suffix read returns the first or last bytes and the whole size, on
/// every kind of store, for objects longer and shorter than it and for an empty one;
/// a ranged stream returns just its range.
#[tokio::test]
async fn prefix_suffix_and_ranged_reads_return_their_bytes_and_the_whole_size() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let stores = every_kind(&s3, dir.path()).await;
    let long: Bytes = (0..=255u8)
        .cycle()
        .take(100_000)
        .collect::<Vec<u8>>()
        .into();
    for store in stores {
        let what = store.describe().to_owned();
        store.put("long", long.clone()).await.unwrap();
        store
            .put("short", Bytes::from_static(b"abc"))
            .await
            .unwrap();
        store.put("empty", Bytes::new()).await.unwrap();
        let (head, size) = store.get_prefix("long", 1000).await.unwrap().unwrap();
        assert_eq!((&head[..], size), (&long[..1000], 100_000), "{what}");
        let (head, size) = store.get_prefix("short", 1000).await.unwrap().unwrap();
        assert_eq!((&head[..], size), (&b"abc"[..], 3), "{what}");
        let (head, size) = store.get_prefix("empty", 1000).await.unwrap().unwrap();
        assert_eq!((head.len(), size), (0, 0), "{what}");
        assert_eq!(
            store.get_prefix("missing", 10).await.unwrap(),
            None,
            "{what}"
        );
        let tail = store.get_suffix("long", 1000).await.unwrap().unwrap();
        assert_eq!(
            (&tail.bytes[..], tail.size),
            (&long[99_000..], 100_000),
            "{what}"
        );
        assert!(tail.etag.is_some(), "{what} gives an entity tag");
        let tail = store.get_suffix("short", 1000).await.unwrap().unwrap();
        assert_eq!((&tail.bytes[..], tail.size), (&b"abc"[..], 3), "{what}");
        let tail = store.get_suffix("empty", 1000).await.unwrap().unwrap();
        assert_eq!((tail.bytes.len(), tail.size), (0, 0), "{what}");
        assert!(store.get_suffix("missing", 10).await.unwrap().is_none());
        let part = store
            .get_range_stream("long", 40_000..40_300, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(part.size, 300, "{what}");
        let mut read = Vec::new();
        tokio::task::spawn_blocking(move || {
            std::io::Read::read_to_end(&mut part.into_reader(), &mut read).map(|_| read)
        })
        .await
        .unwrap()
        .map(|read| assert_eq!(&read[..], &long[40_000..40_300], "{what}"))
        .unwrap();
        assert!(
            store
                .get_range_stream("missing", 0..1, None)
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// A ranged read tied to the entity tag of a suffix read sees that object, and is refused
/// with [`StoreError::Changed`] once the object was replaced, on Garage, a directory and
/// memory. (s3s-fs, the other test server, ignores `If-Match` on a GET: a server like it
/// reads the replaced object, whose decode checks then stand alone.)
#[tokio::test]
async fn a_ranged_read_tied_to_an_entity_tag_is_refused_once_the_object_changed() {
    let s3 = S3Server::start_garage();
    let dir = tempfile::tempdir().unwrap();
    for store in every_kind(&s3, dir.path()).await {
        let what = store.describe().to_owned();
        store
            .put("blob", Bytes::from(vec![1u8; 5000]))
            .await
            .unwrap();
        let tail = store.get_suffix("blob", 100).await.unwrap().unwrap();
        let etag = tail.etag.expect("an entity tag");
        let same = store.get_range_stream("blob", 0..10, Some(&etag)).await;
        assert!(
            matches!(same, Ok(Some(_))),
            "{what}: the same object is read"
        );
        // A local file's tag includes its modification time.
        tokio::time::sleep(Duration::from_millis(20)).await;
        store
            .put("blob", Bytes::from(vec![2u8; 6000]))
            .await
            .unwrap();
        let changed = store.get_range_stream("blob", 0..10, Some(&etag)).await;
        let Err(StoreError::Changed {
            key, etag: tied, ..
        }) = changed
        else {
            panic!(
                "{what}: a replaced object was read: {:?}",
                changed.map(|o| o.map(|o| o.size))
            );
        };
        assert_eq!(
            (key.as_str(), tied.as_str()),
            ("blob", etag.as_str()),
            "{what}"
        );
        let untied = store.get_range_stream("blob", 0..10, None).await;
        assert!(
            matches!(untied, Ok(Some(_))),
            "{what}: an untied read reads the new one"
        );
    }
}

/// A listing names every object under a folder with its size and age, on every kind of
/// store, and nothing outside it.
#[tokio::test]
async fn a_listing_names_every_object_under_a_folder_with_size_and_time() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let stores = every_kind(&s3, dir.path()).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for store in stores {
        let what = store.describe().to_owned();
        store
            .put("plots/a/1.png", Bytes::from_static(b"12345"))
            .await
            .unwrap();
        store
            .put("plots/b/2.png", Bytes::from_static(b"12"))
            .await
            .unwrap();
        store
            .put("analysis/x.msgpack", Bytes::from_static(b"1"))
            .await
            .unwrap();
        let mut listed = store.list("plots/").await.unwrap();
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        let keys: Vec<(&str, u64)> = listed.iter().map(|l| (l.key.as_str(), l.size)).collect();
        assert_eq!(keys, [("plots/a/1.png", 5), ("plots/b/2.png", 2)], "{what}");
        for l in &listed {
            assert!(
                (before - 5_000..before + 60_000).contains(&l.modified_ms),
                "{what}: {l:?} written about now"
            );
        }
        assert!(store.list("nothing/").await.unwrap().is_empty(), "{what}");
    }
}

/// A streamed object larger than a part is uploaded in parts and reads back whole, on
/// every kind of store; a write that fails leaves no object.
#[tokio::test]
async fn a_streamed_object_reads_back_whole_and_a_failed_one_leaves_nothing() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let stores = every_kind(&s3, dir.path()).await;
    let size = waveplot_service::store::PART_BYTES * 2 + 12_345;
    let expected: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    for store in stores {
        let what = store.describe().to_owned();
        let data = expected.clone();
        store
            .put_streamed("analysis/big.msgpack", move |out| {
                for chunk in data.chunks(100_000) {
                    out.write_all(chunk)?;
                }
                Ok(())
            })
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let back = store.get("analysis/big.msgpack").await.unwrap().unwrap();
        assert!(
            back[..] == expected[..],
            "{what}: {} bytes back",
            back.len()
        );

        let failed = store
            .put_streamed("analysis/broken.msgpack", |out| {
                out.write_all(&vec![7u8; waveplot_service::store::PART_BYTES + 1])?;
                Err(std::io::Error::other("the encoder gave up"))
            })
            .await
            .unwrap_err();
        assert!(
            failed.to_string().contains("the encoder gave up"),
            "{what}: {failed}"
        );
        assert!(
            !store.exists("analysis/broken.msgpack").await.unwrap(),
            "{what}"
        );
    }
}

#[tokio::test]
async fn charts_kept_apart_go_to_their_own_store_and_everything_else_stays() {
    let (data, charts) = (Store::memory(), Store::memory());
    let both = data.clone().with_charts(charts.clone());
    assert_eq!(both.describe(), "memory, charts in memory");
    let (chart, blob) = ("plots/a/01-2x2.png", "analysis/a.msgpack");
    both.put(chart, Bytes::from_static(b"png")).await.unwrap();
    both.put(blob, Bytes::from_static(b"blob")).await.unwrap();
    assert!(charts.exists(chart).await.unwrap() && !data.exists(chart).await.unwrap());
    assert!(data.exists(blob).await.unwrap() && !charts.exists(blob).await.unwrap());
    let listed = both.list("plots/").await.unwrap();
    assert_eq!(
        listed.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        [chart]
    );
    assert_eq!(both.list("analysis/").await.unwrap().len(), 1);
    assert_eq!(both.size(chart).await.unwrap(), Some(3));
    both.delete(chart).await.unwrap();
    assert!(!charts.exists(chart).await.unwrap());
    assert!(data.exists(blob).await.unwrap());
}

#[tokio::test]
async fn the_readiness_check_covers_the_charts_store_too() {
    let mut s3 = S3Server::start();
    let charts = Store::open_with("s3://waveplot-charts", vars(&s3))
        .await
        .unwrap();
    let both = Store::memory().with_charts(charts);
    both.check().await.unwrap();
    s3.stop();
    let e = both.check().await.unwrap_err();
    assert!(e.to_string().contains("waveplot-charts"), "{e}");
}

/// An S3 endpoint that answers every request with an empty 200 and keeps the headers
/// of each: enough to see how the store signs what it sends.
async fn header_recorder() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = heads.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut socket = BufReader::new(socket);
                loop {
                    let mut head = String::new();
                    while socket.read_line(&mut head).await.unwrap_or(0) > 2 {}
                    if head.is_empty() {
                        return;
                    }
                    let length = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .map_or(0, |(_, v)| v.trim().parse::<usize>().unwrap());
                    let mut body = vec![0; length];
                    socket.read_exact(&mut body).await.unwrap();
                    kept.lock().unwrap().push(head);
                    let answer = "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 0\r\n\r\n";
                    socket.get_mut().write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (endpoint, heads)
}

/// Bodies go unsigned unless the operator asks (the reason is at `Store::s3_defaults`):
/// the upload's header says `UNSIGNED-PAYLOAD` instead of the body's SHA-256, and
/// `AWS_UNSIGNED_PAYLOAD=false` brings the hash back.
#[tokio::test]
async fn bodies_are_sent_unsigned_unless_the_operator_asks_for_signed_ones() {
    for (setting, signed) in [(None, false), (Some("false"), true), (Some("true"), false)] {
        let (endpoint, heads) = header_recorder().await;
        let mut vars: Vec<(String, String)> = [
            ("AWS_ENDPOINT", endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "key"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(value) = setting {
            vars.push(("AWS_UNSIGNED_PAYLOAD".into(), value.into()));
        }
        let store = Store::open_with("s3://waveplot", vars).await.unwrap();
        store
            .put("analysis/x.msgpack", Bytes::from_static(b"a body"))
            .await
            .unwrap();
        let heads = heads.lock().unwrap();
        let upload = heads
            .iter()
            .find(|h| h.starts_with("PUT /waveplot/analysis/x.msgpack"))
            .unwrap_or_else(|| panic!("{setting:?}: no upload among {heads:?}"));
        let content = upload
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-content-sha256"))
            .map(|(_, v)| v.trim())
            .unwrap_or_else(|| panic!("{setting:?}: {upload}"));
        let hashed = content.len() == 64 && content.bytes().all(|b| b.is_ascii_hexdigit());
        assert_eq!(hashed, signed, "{setting:?}: {content}");
        assert_eq!(content == "UNSIGNED-PAYLOAD", !signed, "{setting:?}");
    }
}
