//! S3 servers for tests, laid out as the deployment lays out its store: blobs and
//! candles in the bucket [`DATA_BUCKET`], charts in [`CHARTS_BUCKET`].
//!
//! - [`S3Server::start`]: `s3s-fs` over a scratch directory. It checks SigV4 signatures
//!   like MinIO does, and has one key, which may do everything.
//! - [`S3Server::start_garage`]: Garage, a real S3 server with a key per role
//!   ([`S3Key`]), each allowed only the buckets its role uses, as `compose.yaml` sets
//!   them up. Garage's permissions are per bucket (read: get, head and list; write:
//!   put and delete), which is why charts have a bucket of their own.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, kill, start_on_own_port, start_on_port};

/// The bucket of blobs and cached candles.
pub const DATA_BUCKET: &str = "waveplot";
/// The bucket of charts (`plots/…`), kept apart so that the gateway's key reads it
/// and nothing else.
pub const CHARTS_BUCKET: &str = "waveplot-charts";

/// Access key of the `s3s-fs` server.
pub const S3_ACCESS_KEY: &str = "waveplot-test";
/// Secret key of the `s3s-fs` server.
pub const S3_SECRET_KEY: &str = "waveplot-test-secret";

/// A key of the store, one per role, and an administrator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Key {
    /// May do everything (tests read and plant objects with it).
    Admin,
    /// Reads charts.
    Gateway,
    /// Reads and writes blobs and candles; lists and deletes charts (the sweeper).
    Prepare,
    /// Reads blobs; reads and writes charts.
    Plotter,
}

impl S3Key {
    /// Every key.
    pub const ALL: [S3Key; 4] = [S3Key::Admin, S3Key::Gateway, S3Key::Prepare, S3Key::Plotter];

    /// What the key may do on the data bucket and on the charts bucket, as Garage's
    /// `bucket allow` flags.
    fn grants(self) -> [(&'static str, &'static [&'static str]); 2] {
        match self {
            S3Key::Admin => [
                (DATA_BUCKET, &["--read", "--write", "--owner"]),
                (CHARTS_BUCKET, &["--read", "--write", "--owner"]),
            ],
            S3Key::Gateway => [(DATA_BUCKET, &[]), (CHARTS_BUCKET, &["--read"])],
            S3Key::Prepare => [
                (DATA_BUCKET, &["--read", "--write"]),
                (CHARTS_BUCKET, &["--read", "--write"]),
            ],
            S3Key::Plotter => [
                (DATA_BUCKET, &["--read"]),
                (CHARTS_BUCKET, &["--read", "--write"]),
            ],
        }
    }

    fn name(self) -> &'static str {
        match self {
            S3Key::Admin => "admin",
            S3Key::Gateway => "gateway",
            S3Key::Prepare => "prepare",
            S3Key::Plotter => "plotter",
        }
    }
}

/// Which server runs.
#[derive(Debug)]
enum Engine {
    S3sFs,
    Garage {
        /// Each key's ID and secret.
        keys: Vec<(S3Key, String, String)>,
    },
}

/// A running S3 server over a scratch directory; killed on drop.
#[derive(Debug)]
pub struct S3Server {
    port: u16,
    dir: tempfile::TempDir,
    engine: Engine,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

/// Garage's S3 region (any name; clients must sign with it).
const GARAGE_REGION: &str = "garage";

impl S3Server {
    /// Starts `s3s-fs` and waits until it accepts connections.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("scratch directory for the S3 server");
        let mut command = Self::s3s_fs(dir.path(), 0);
        command.env("RUST_LOG", "info").env("NO_COLOR", "1");
        let (port, child, log) = start_on_own_port(command, "server is running at");
        Self {
            port,
            dir,
            engine: Engine::S3sFs,
            child: Some(child),
            log,
        }
    }

    /// Starts a one-node Garage with both buckets and a key per [`S3Key`], and waits
    /// until it serves S3. Garage cannot be told to choose its ports, so a start that
    /// loses a port to another process is tried again on others.
    ///
    /// # Panics
    /// If `garage` is not installed (`.ci/run` installs it) or does not start.
    pub fn start_garage() -> Self {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_garage() {
                Ok(server) => return server,
                Err(log) => failures.push(log),
            }
        }
        panic!("garage did not start:\n{}", failures.join("\n---\n"));
    }

    fn try_garage() -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("scratch directory for Garage");
        let (port, rpc_port) = (free_port(), free_port());
        let config = format!(
            "metadata_dir = \"{root}/meta\"\n\
             data_dir = \"{root}/data\"\n\
             db_engine = \"lmdb\"\n\
             replication_factor = 1\n\
             compression_level = \"none\"\n\
             rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_secret = \"{secret}\"\n\
             [s3_api]\n\
             s3_region = \"{GARAGE_REGION}\"\n\
             api_bind_addr = \"127.0.0.1:{port}\"\n",
            root = dir.path().display(),
            secret = hex(32),
        );
        std::fs::write(dir.path().join("garage.toml"), config).expect("write garage.toml");
        let log = tempfile::NamedTempFile::new().expect("Garage log file");
        let mut server = Self {
            port,
            child: None,
            engine: Engine::Garage {
                keys: S3Key::ALL
                    .iter()
                    .map(|&k| (k, format!("GK{}", hex(12)), hex(32)))
                    .collect(),
            },
            dir,
            log,
        };
        server.spawn_garage()?;
        server.garage_setup()?;
        Ok(server)
    }

    /// Starts `garage server` and waits until its RPC answers.
    fn spawn_garage(&mut self) -> Result<(), String> {
        let out = self.log.reopen().expect("Garage log handle");
        let err = self.log.reopen().expect("Garage log handle");
        let child = self
            .garage()
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start garage: {e} (.ci/run installs it)"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.garage_cli(&["status"]).is_ok() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                self.stop();
                return Err(std::fs::read_to_string(self.log.path()).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Gives the node a role, makes both buckets and imports every key with its
    /// grants.
    fn garage_setup(&self) -> Result<(), String> {
        let id = self.garage_cli(&["node", "id", "-q"])?;
        let id = id.trim().split('@').next().unwrap_or_default().to_owned();
        self.garage_cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &id])?;
        self.garage_cli(&["layout", "apply", "--version", "1"])?;
        for bucket in [DATA_BUCKET, CHARTS_BUCKET] {
            self.garage_cli(&["bucket", "create", bucket])?;
        }
        let Engine::Garage { keys } = &self.engine else {
            unreachable!("garage_setup runs on Garage")
        };
        for (key, id, secret) in keys {
            self.garage_cli(&["key", "import", "--yes", "-n", key.name(), id, secret])?;
            for (bucket, flags) in key.grants() {
                if !flags.is_empty() {
                    let mut args = vec!["bucket", "allow", "--key", id.as_str()];
                    args.extend_from_slice(flags);
                    args.push(bucket);
                    self.garage_cli(&args)?;
                }
            }
        }
        let addr = ([127, 0, 0, 1], self.port).into();
        crate::wait_for_port(addr, Duration::from_secs(10));
        Ok(())
    }

    /// `garage -c garage.toml`
    fn garage(&self) -> Command {
        let mut cmd = Command::new("garage");
        cmd.arg("-c").arg(self.dir.path().join("garage.toml"));
        cmd
    }

    /// Runs the Garage CLI; its standard output, or what went wrong.
    fn garage_cli(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .garage()
            .args(args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run garage: {e} (.ci/run installs it)"));
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "garage {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn s3s_fs(dir: &Path, port: u16) -> Command {
        let mut cmd = Command::new("s3s-fs");
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(dir);
        cmd
    }

    fn spawn(&mut self) {
        match self.engine {
            Engine::S3sFs => {
                self.child = Some(start_on_port(
                    Self::s3s_fs(self.dir.path(), self.port),
                    self.port,
                ));
            }
            Engine::Garage { .. } => {
                if let Err(log) = self.spawn_garage() {
                    panic!("garage did not restart:\n{log}");
                }
                let addr = ([127, 0, 0, 1], self.port).into();
                crate::wait_for_port(addr, Duration::from_secs(10));
            }
        }
    }

    /// The process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's name: `s3s-fs` or `garage`.
    pub fn name(&self) -> &'static str {
        match self.engine {
            Engine::S3sFs => "s3s-fs",
            Engine::Garage { .. } => "garage",
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a client with the administrator's key needs (`AWS_*`
    /// variables).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        self.env_for(S3Key::Admin)
    }

    /// The environment a client with `key` needs (`AWS_*` variables); on `s3s-fs`
    /// every key is its one key.
    pub fn env_for(&self, key: S3Key) -> Vec<(&'static str, String)> {
        let (region, id, secret) = match &self.engine {
            Engine::S3sFs => ("us-east-1", S3_ACCESS_KEY, S3_SECRET_KEY),
            Engine::Garage { keys } => {
                let (_, id, secret) = keys
                    .iter()
                    .find(|(k, _, _)| *k == key)
                    .expect("every key is imported");
                (GARAGE_REGION, id.as_str(), secret.as_str())
            }
        };
        vec![
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_REGION", region.to_owned()),
            ("AWS_ACCESS_KEY_ID", id.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", secret.to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// Kills the server; its data stays for [`S3Server::restart`].
    pub fn stop(&mut self) {
        kill(self.child.take());
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `bytes` random bytes as lowercase hex.
fn hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect()
}
