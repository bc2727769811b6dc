//! The object store that holds blobs and charts: any S3 (MinIO, Garage, AWS), a local
//! directory, or memory, chosen by a URL (`STORE_URL`).
//!
//! S3 settings come from object_store's standard variables (`AWS_ENDPOINT`,
//! `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`); the
//! two keys may instead be read from files named by `AWS_ACCESS_KEY_ID_FILE` and
//! `AWS_SECRET_ACCESS_KEY_FILE` (container secrets, which `docker inspect` does not show).
//! object_store has no call to create a bucket, so [`Store::open`] sends a signed
//! `CreateBucket` itself when an endpoint is configured (an S3-compatible server such
//! as MinIO), and treats "already exists" as success: every service can start first.
//! A key that may not create buckets (a role's own key) uses the bucket as it is.
//!
//! Charts may live in a store of their own ([`Store::with_charts`], `CHARTS_STORE_URL`):
//! then every role can hold a key for exactly the buckets it uses.

use std::io::Write;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, PutPayload};
use thiserror::Error;
use tokio_util::io::{StreamReader, SyncIoBridge};
use waveplot_protocol::PlotKey;

/// What can go wrong with the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// `STORE_URL` is not a supported URL.
    #[error(
        "invalid store URL '{url}': {reason}; use s3://BUCKET, file:///ABSOLUTE/PATH or memory:///"
    )]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
        /// The error behind it, if another library reported one.
        #[source]
        source: Option<Cause>,
    },
    /// The bucket could not be created or checked.
    #[error("cannot create bucket '{bucket}' at {endpoint}: {reason}")]
    Bucket {
        /// The bucket.
        bucket: String,
        /// The S3 endpoint.
        endpoint: String,
        /// What failed, and what to check.
        reason: String,
        /// The error behind it, if the client reported one.
        #[source]
        source: Option<Cause>,
    },
    /// A read or write failed (server down, permissions, disk full).
    #[error("store {action} of {key} failed: {reason}")]
    Io {
        /// `put`, `get`, `head`, `list` or `delete`.
        action: &'static str,
        /// The object key.
        key: String,
        /// What went wrong, said once: for an unreachable server, what the connection
        /// said and what to check, not object_store's nested retry report.
        reason: String,
        /// object_store's error (boxed: it is large, and errors travel in `Result`s).
        #[source]
        source: Box<object_store::Error>,
    },
    /// A read tied to an entity tag found the object replaced since that tag was read.
    #[error("{key} changed while it was read: its entity tag is no longer {etag}")]
    Changed {
        /// The object key.
        key: String,
        /// The entity tag the read was tied to.
        etag: String,
        /// The store's refusal.
        #[source]
        source: Box<object_store::Error>,
    },
}

/// The folder the readiness check lists (it holds nothing).
const PROBE: &str = "readyz-probe/";

/// The part size of a streamed upload ([`Store::put_streamed`]).
pub const PART_BYTES: usize = 10 << 20;
/// The buffer of [`Object::into_reader`]: large enough that a decoder reading a few
/// bytes at a time rarely waits on the stream, small beside any object worth streaming.
const READ_BUFFER: usize = 256 << 10;

/// The error of another library underneath a [`StoreError`].
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An open object store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    describe: String,
    /// Where charts (keys under [`PlotKey::FOLDER`]) are kept, when apart from the rest
    /// ([`Store::with_charts`]).
    charts: Option<Arc<Store>>,
}

/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The object's key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written, ms since 1970 (UTC).
    pub modified_ms: i64,
}

/// The last bytes of an object, read in one piece with its size and entity tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suffix {
    /// The bytes (all of the object when it is shorter than asked for).
    pub bytes: Bytes,
    /// The whole object's size.
    pub size: u64,
    /// The store's entity tag of the object, if it has one: reads tied to it
    /// ([`Store::get_range_stream`]) see the same object.
    pub etag: Option<String>,
}

/// An object's bytes as a stream, with what HTTP needs to serve it.
pub struct Object {
    /// Size in bytes.
    pub size: u64,
    /// The store's entity tag, if it has one.
    pub etag: Option<String>,
    /// The bytes.
    pub stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
}

impl Object {
    /// The bytes as a buffered blocking reader, for a decoder that works on them as
    /// they arrive instead of holding the object whole. Every read may wait on the
    /// network: use it off the async runtime (in `spawn_blocking`), from a thread the
    /// runtime started. The store's errors reach the reader as `io::Error`s that keep
    /// them as their source.
    pub fn into_reader(self) -> impl std::io::Read + Send {
        let stream = self.stream.map_err(std::io::Error::other);
        std::io::BufReader::with_capacity(READ_BUFFER, SyncIoBridge::new(StreamReader::new(stream)))
    }
}

/// The variables that name a file holding an S3 key (a container secret), and the
/// variable each file's content stands for.
const KEY_FILES: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID_FILE", "AWS_ACCESS_KEY_ID"),
    ("AWS_SECRET_ACCESS_KEY_FILE", "AWS_SECRET_ACCESS_KEY"),
];

/// `vars` with each `AWS_…_FILE` of [`KEY_FILES`] replaced by the variable it stands
/// for, set to the file's content (one trailing newline dropped); it wins over the
/// variable set directly.
fn read_key_files(
    url: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut vars: Vec<(String, String)> = vars.into_iter().collect();
    for (file_var, var) in KEY_FILES {
        let Some(path) = vars
            .iter()
            .find(|(k, _)| k == file_var)
            .map(|(_, v)| v.clone())
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(|e| StoreError::Url {
            url: url.to_owned(),
            reason: format!("cannot read {file_var} {path}"),
            source: Some(Box::new(e)),
        })?;
        let key = text.strip_suffix('\n').unwrap_or(&text);
        let key = key.strip_suffix('\r').unwrap_or(key).to_owned();
        vars.retain(|(k, _)| k != var && k != file_var);
        vars.push((var.to_owned(), key));
    }
    Ok(vars)
}

impl Store {
    /// Opens the store named by `url`, creating the bucket or directory if needed;
    /// S3 settings come from the process environment.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Self::open_with(url, std::env::vars()).await
    }

    /// Like [`Store::open`], with the `AWS_*` settings taken from `vars` instead of the
    /// environment (other variables are ignored).
    pub async fn open_with(
        url: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Store, StoreError> {
        let bad = |reason: String| StoreError::Url {
            url: url.to_owned(),
            reason,
            source: None,
        };
        let parsed = url::Url::parse(url).map_err(|e| StoreError::Url {
            url: url.to_owned(),
            reason: "not a URL".into(),
            source: Some(Box::new(e)),
        })?;
        match parsed.scheme() {
            "s3" => {
                let bucket = parsed.host_str().filter(|b| !b.is_empty());
                let bucket = bucket
                    .ok_or_else(|| bad("no bucket name".into()))?
                    .to_owned();
                Self::open_s3(url, &bucket, vars).await
            }
            "file" => {
                let path = parsed
                    .to_file_path()
                    .map_err(|()| bad("not an absolute path".into()))?;
                Self::local_dir(&path)
            }
            "memory" => Ok(Self::memory()),
            other => Err(bad(format!("unsupported scheme '{other}'"))),
        }
    }

    /// A store in a local directory (created if missing).
    pub fn local_dir(dir: &FsPath) -> Result<Store, StoreError> {
        let bad = |reason: &str, source: Cause| StoreError::Url {
            url: dir.display().to_string(),
            reason: reason.to_owned(),
            source: Some(source),
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| bad("cannot create the directory", Box::new(e)))?;
        let fs = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| bad("cannot open the directory", Box::new(e)))?;
        Ok(Store {
            inner: Arc::new(fs),
            describe: format!("directory {}", dir.display()),
            charts: None,
        })
    }

    /// A store in memory (lost at exit; for tests and experiments).
    pub fn memory() -> Store {
        Store {
            inner: Arc::new(InMemory::new()),
            describe: "memory".into(),
            charts: None,
        }
    }

    async fn open_s3(
        url: &str,
        bucket: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Store, StoreError> {
        // The build carries only ring (one TLS provider keeps builds small); reqwest needs
        // it installed as the process default. A second install is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = read_key_files(url, vars)?
            .into_iter()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .filter_map(|(k, v)| {
                Some((k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>().ok()?, v))
            })
            .fold(Self::s3_defaults(), |b, (k, v)| b.with_config(k, v))
            .with_url(url);
        let value = |key| builder.get_config_value(&key);
        let endpoint = value(AmazonS3ConfigKey::Endpoint);
        let refused = match &endpoint {
            Some(endpoint) => {
                let region = value(AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".into());
                let key = value(AmazonS3ConfigKey::AccessKeyId).unwrap_or_default();
                let secret = value(AmazonS3ConfigKey::SecretAccessKey).unwrap_or_default();
                create_bucket(endpoint, &region, bucket, &key, &secret).await?
            }
            None => None,
        };
        // object_store retries for up to 3 minutes by default; a render has a deadline
        // of seconds, so fail fast and let the caller report the outage.
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let store = builder
            .with_retry(retry)
            .build()
            .map_err(|e| StoreError::Url {
                url: url.to_owned(),
                reason: "the S3 settings are incomplete".into(),
                source: Some(Box::new(e)),
            })?;
        let store = Store {
            inner: Arc::new(store),
            describe: match &endpoint {
                Some(endpoint) => format!("S3 bucket {bucket} at {endpoint}"),
                None => format!("S3 bucket {bucket}"),
            },
            charts: None,
        };
        // A role's own key may read and write objects but not create buckets (least
        // privilege: an administrator or an init job makes them). Some servers refuse a
        // wrong secret with the same AccessDenied (Garage), so the bucket must then answer
        // a listing with this key, or the refusal stands.
        if let Some(refusal) = refused {
            if let Err(e) = store.list(PROBE).await {
                return Err(StoreError::Bucket {
                    bucket: bucket.to_owned(),
                    endpoint: endpoint.unwrap_or_default(),
                    reason: format!("{refusal}, and this key cannot list the bucket either"),
                    source: Some(Box::new(e)),
                });
            }
            tracing::info!(
                store = store.describe,
                "this key may not create buckets; using the bucket as it is"
            );
        }
        Ok(store)
    }

    /// Timeouts short enough for a render's deadline, and unsigned payloads; `AWS_*`
    /// variables may override them.
    ///
    /// Why unsigned (`AWS_UNSIGNED_PAYLOAD=true`): signing a body means hashing it
    /// (SHA-256) in the writer and again in the server that checks it, for every byte of
    /// every blob: more than a quarter of the time of storing a million-candle blob on
    /// a 2-core machine. What it buys is that a body changed on its way to the server
    /// is refused, and only for writes: S3 signs no response, so whoever can change a
    /// body on the network can change every blob a plotter reads anyway. Against that
    /// attacker the answer is TLS (an `https` endpoint), which protects both
    /// directions; the request itself (method, key, headers) stays signed either way.
    fn s3_defaults() -> AmazonS3Builder {
        use object_store::ClientConfigKey::{ConnectTimeout, Timeout};
        AmazonS3Builder::new()
            .with_config(AmazonS3ConfigKey::Client(ConnectTimeout), "2s")
            .with_config(AmazonS3ConfigKey::Client(Timeout), "15s")
            .with_config(AmazonS3ConfigKey::UnsignedPayload, "true")
    }

    /// This store, with charts (keys under [`PlotKey::FOLDER`], listings of that
    /// folder included) kept in `charts` instead. With charts in a bucket of their
    /// own, the role that only serves them (the gateway) can hold a key that reads that
    /// bucket and nothing else, on any S3 server: per-bucket permissions are what every
    /// server has (Garage has no per-prefix ones).
    pub fn with_charts(self, charts: Store) -> Store {
        Store {
            describe: format!("{}, charts in {}", self.describe, charts.describe),
            charts: Some(Arc::new(charts)),
            ..self
        }
    }

    /// The store that holds `key`.
    fn route(&self, key: &str) -> &Store {
        match &self.charts {
            Some(charts) if key.starts_with(PlotKey::FOLDER) => charts,
            _ => self,
        }
    }

    /// What the store is, for logs (`S3 bucket waveplot`, `directory /data`).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Writes an object (replacing any previous one).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.route(key)
            .inner
            .put(&Path::from(key), PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(|source| self.route(key).io("put", key, source))
    }

    /// Writes an object by streaming: `write` runs on a blocking thread and writes the
    /// object's bytes into the writer it is given, and they are uploaded as they come,
    /// in parts of [`PART_BYTES`] (one request for a smaller object, a multipart upload
    /// on S3 for a larger one), so the whole object is never held in memory. The object
    /// appears only once complete; a failed write leaves none (the upload is aborted).
    pub async fn put_streamed(
        &self,
        key: &str,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()> + Send + 'static,
    ) -> Result<(), StoreError> {
        let upload =
            BufWriter::with_capacity(self.route(key).inner.clone(), Path::from(key), PART_BYTES)
                .with_max_concurrency(2);
        let bridge = SyncIoBridge::new(upload);
        let (written, upload) = tokio::task::spawn_blocking(move || {
            let mut bridge = bridge;
            let mut buffered = std::io::BufWriter::with_capacity(64 << 10, &mut bridge);
            let written = write(&mut buffered).and_then(|()| buffered.flush());
            drop(buffered);
            let written = written.and_then(|()| bridge.shutdown());
            (written, bridge.into_inner())
        })
        .await
        .map_err(|e| std::io::Error::other(format!("the writing task stopped: {e}")))
        .map_or_else(|e| (Err(e), None), |(w, u)| (w, Some(u)));
        match written {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Some(mut upload) = upload {
                    if let Err(abort) = upload.abort().await {
                        tracing::debug!(
                            key,
                            error = &abort as &dyn std::error::Error,
                            "could not abort an upload"
                        );
                    }
                }
                let source = object_store::Error::Generic {
                    store: "waveplot",
                    source: Box::new(e),
                };
                Err(self.route(key).io("put", key, source))
            }
        }
    }

    /// Reads an object; `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self.route(key).inner.get(&Path::from(key)).await {
            Ok(r) => r
                .bytes()
                .await
                .map(Some)
                .map_err(|source| self.route(key).io("get", key, source)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.route(key).io("get", key, source)),
        }
    }

    /// The first `len` bytes of an object (all of it when shorter) and the object's
    /// whole size; `None` if it does not exist. One ranged read: the header of a
    /// large blob costs its own bytes, not the blob's.
    pub async fn get_prefix(
        &self,
        key: &str,
        len: u64,
    ) -> Result<Option<(Bytes, u64)>, StoreError> {
        match self.range_bytes(key, 0..len, None).await {
            Ok(read) => Ok(read),
            // A range of an empty object is refused; the object is there, and empty.
            Err(source) => match self.size(key).await {
                Ok(Some(0)) => Ok(Some((Bytes::new(), 0))),
                _ => Err(self.route(key).io("get", key, source)),
            },
        }
    }

    /// The last `len` bytes of an object (all of it when shorter), its whole size and
    /// its entity tag; `None` if it does not exist. The size first, then one bounded
    /// ranged read tied to the same entity tag: some S3 servers refuse a suffix range
    /// longer than the object.
    pub async fn get_suffix(&self, key: &str, len: u64) -> Result<Option<Suffix>, StoreError> {
        let meta = match self.route(key).inner.head(&Path::from(key)).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(self.route(key).io("head", key, source)),
        };
        let (size, etag) = (meta.size, meta.e_tag);
        if size == 0 {
            let bytes = Bytes::new();
            return Ok(Some(Suffix { bytes, size, etag }));
        }
        let range = size.saturating_sub(len)..size;
        match self.range_bytes(key, range, etag.as_deref()).await {
            Ok(read) => Ok(read.map(|(bytes, size)| Suffix { bytes, size, etag })),
            Err(source) => Err(self.refused(key, etag.as_deref(), source)),
        }
    }

    /// The bytes `range` of an object and its whole size, if its entity tag is still
    /// `if_match` when one is given; `None` if it does not exist.
    async fn range_bytes(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
        if_match: Option<&str>,
    ) -> Result<Option<(Bytes, u64)>, object_store::Error> {
        let options = GetOptions {
            range: Some(range.into()),
            if_match: if_match.map(str::to_owned),
            ..GetOptions::default()
        };
        match self
            .route(key)
            .inner
            .get_opts(&Path::from(key), options)
            .await
        {
            Ok(r) => {
                let size = r.meta.size;
                Ok(Some((r.bytes().await?, size)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Streams the bytes `range` of an object, refusing with [`StoreError::Changed`]
    /// once its entity tag is no longer `if_match` (when one is given); `None` if it
    /// does not exist.
    pub async fn get_range_stream(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
        if_match: Option<&str>,
    ) -> Result<Option<Object>, StoreError> {
        let options = GetOptions {
            range: Some(range.into()),
            if_match: if_match.map(str::to_owned),
            ..GetOptions::default()
        };
        match self
            .route(key)
            .inner
            .get_opts(&Path::from(key), options)
            .await
        {
            Ok(r) => Ok(Some(Object {
                size: r.range.end - r.range.start,
                etag: r.meta.e_tag.clone(),
                stream: r.into_stream(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.refused(key, if_match, source)),
        }
    }

    /// Streams an object; `None` if it does not exist.
    pub async fn get_stream(&self, key: &str) -> Result<Option<Object>, StoreError> {
        match self.route(key).inner.get(&Path::from(key)).await {
            Ok(r) => Ok(Some(Object {
                size: r.meta.size,
                etag: r.meta.e_tag.clone(),
                stream: r.into_stream(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.route(key).io("get", key, source)),
        }
    }

    /// Every object whose key starts with `prefix` (a folder such as `plots/`), in no
    /// particular order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        let folder = Path::from(prefix.trim_end_matches('/'));
        let mut objects = self.route(prefix).inner.list(Some(&folder));
        let mut out = Vec::new();
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(|source| self.route(prefix).io("list", prefix, source))?;
            out.push(Listed {
                key: meta.location.to_string(),
                size: meta.size,
                modified_ms: meta.last_modified.timestamp_millis(),
            });
        }
        Ok(out)
    }

    /// Deletes an object; deleting one that does not exist is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.route(key).inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(self.route(key).io("delete", key, source)),
        }
    }

    /// True if the object exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.size(key).await.map(|s| s.is_some())
    }

    /// The object's size in bytes; `None` if it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        match self.route(key).inner.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.route(key).io("head", key, source)),
        }
    }

    /// A refused read: [`StoreError::Changed`] when it was tied to an entity tag that
    /// no longer holds.
    fn refused(
        &self,
        key: &str,
        if_match: Option<&str>,
        source: object_store::Error,
    ) -> StoreError {
        match (source, if_match) {
            (source @ object_store::Error::Precondition { .. }, Some(etag)) => {
                StoreError::Changed {
                    key: key.to_owned(),
                    etag: etag.to_owned(),
                    source: Box::new(source),
                }
            }
            (source, _) => self.route(key).io("get", key, source),
        }
    }

    fn io(&self, action: &'static str, key: &str, source: object_store::Error) -> StoreError {
        StoreError::Io {
            action,
            key: key.to_owned(),
            reason: reason(&source, &self.describe),
            source: Box::new(source),
        }
    }

    /// Checks that the store answers (for `/readyz`), the charts' store too when they
    /// are kept apart: a missing probe object is fine, an unreachable server or a
    /// refused request is not.
    pub async fn check(&self) -> Result<(), StoreError> {
        // A listing, not a HEAD: S3 answers a HEAD in a missing bucket with the same 404
        // as a missing object, and a listing of one with an error.
        self.list(PROBE).await?;
        match &self.charts {
            Some(charts) => charts.list(PROBE).await.map(drop),
            None => Ok(()),
        }
    }
}

/// What went wrong, for people: when the connection itself failed (the chain of
/// causes ends in a connection-level I/O error), that error and what to check; else
/// object_store's own message.
fn reason(e: &object_store::Error, store: &str) -> String {
    use std::io::ErrorKind::{
        ConnectionAborted, ConnectionRefused, ConnectionReset, HostUnreachable, NetworkUnreachable,
        NotConnected, TimedOut,
    };
    let connection = std::iter::successors(Some(e as &dyn std::error::Error), |c| c.source())
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .find(|io| {
            matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | NotConnected
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
            )
        });
    match connection {
        Some(io) => format!("cannot reach the {store}: {io}; is the S3 server running?"),
        None => e.to_string(),
    }
}

/// Sends a signed `PUT /<bucket>`; "already exists" (409) counts as success. A refusal
/// with `AccessDenied` is returned as `Some(what the server said)`: the key may only be
/// one that cannot create buckets.
async fn create_bucket(
    endpoint: &str,
    region: &str,
    bucket: &str,
    key: &str,
    secret: &str,
) -> Result<Option<String>, StoreError> {
    let fail = |reason: &str, source: Option<Cause>| StoreError::Bucket {
        bucket: bucket.to_owned(),
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
        source,
    };
    let base = endpoint
        .parse()
        .map_err(|e: url::ParseError| fail("bad endpoint URL", Some(Box::new(e))))?;
    let b = rusty_s3::Bucket::new(
        base,
        rusty_s3::UrlStyle::Path,
        bucket.to_owned(),
        region.to_owned(),
    )
    .map_err(|e| fail("bad bucket name or endpoint", Some(Box::new(e))))?;
    let credentials = rusty_s3::Credentials::new(key, secret);
    let url = rusty_s3::S3Action::sign(&b.create_bucket(&credentials), Duration::from_secs(60));
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| fail("cannot start an HTTP client", Some(Box::new(e))))?
        .put(url)
        .send()
        .await
        .map_err(|e| {
            fail(
                "no answer; is the S3 server running and AWS_ENDPOINT right?",
                Some(Box::new(e)),
            )
        })?;
    let status = response.status();
    if status.is_success() || status == reqwest::StatusCode::CONFLICT {
        return Ok(None);
    }
    let body = response.text().await.unwrap_or_default();
    let refusal = format!("HTTP {status}: {}", body.trim());
    if status == reqwest::StatusCode::FORBIDDEN && body.contains("<Code>AccessDenied</Code>") {
        return Ok(Some(refusal));
    }
    Err(fail(&refusal, None))
}
