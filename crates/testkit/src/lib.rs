//! Test harness for tests that cross process boundaries: it starts the real servers
//! (`nats-server`, an S3 server) on free loopback ports and stops them when dropped.
//! Tests never skip because a server is missing: a missing binary fails the test
//! with the command that installs it (`.ci/run` installs them all).
//!
//! # Layout
//!
//! - [`NatsServer`]: a `nats-server` process, open or with the deployment's users
//!   ([`NatsUser`]) and permissions.
//! - [`S3Server`] (module [`s3`]): an S3 server over a scratch directory, with the
//!   deployment's two buckets: `s3s-fs`, which checks SigV4 signatures like MinIO
//!   does, or Garage, with a key per role ([`S3Key`]) allowed only what the role uses.
//! - [`Service`]: a service binary of this workspace, with its log kept for failures.
//! - [`Stack`] (module [`stack`]): nats-server, the S3 server and the services of this
//!   workspace together, built with a [`StackBuilder`] from the binaries in [`bin_dir`].
//! - [`free_port`]: a free loopback TCP port.
//! - [`http_client_builder`]: a blocking HTTP client builder with TLS set up.
//! - `fake_binance` (feature `fake-binance`): a fake Binance REST API in process.
//! - [`klines`]: klines files of a seeded random walk.
//! - [`operator`]: an operator, an account and users' credentials files, for
//!   [`NatsServer::start_operator`].

#[cfg(feature = "fake-binance")]
pub mod fake_binance;
pub mod klines;
pub mod operator;
pub mod s3;
pub mod stack;

pub use s3::{S3Key, S3Server};
pub use stack::{Role, Stack, StackBuilder, bin_dir};

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use rustix::process::{Pid, Signal, kill_process};
use secrecy::{ExposeSecret, SecretString};
use waveplot_service::NatsLogin;
use waveplot_service::health::probe;

/// A free TCP port on 127.0.0.1 (bound, read, released): for an address where nothing
/// should listen, or a program that cannot choose its own port. Another test may take
/// the same port before it is used; a program of ours binds port 0 instead and logs
/// the port it got ([`Service::start`]).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

/// A blocking HTTP client builder. reqwest is built without a TLS crypto provider and
/// needs one even for plain HTTP, so this installs rustls' ring provider first (once
/// per process; later calls find it installed).
pub fn http_client_builder() -> reqwest::blocking::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
}

/// Waits until something accepts TCP connections at `addr`, or panics after `limit`.
pub fn wait_for_port(addr: SocketAddr, limit: Duration) {
    let deadline = Instant::now() + limit;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on {addr} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts a server that picks its own free port (so parallel tests never race for
/// one) and reads the port from its log: the digits after the last `:` of the first
/// line containing `marker`. The log file is returned too; it must outlive the server.
fn start_on_own_port(mut command: Command, marker: &str) -> (u16, Child, tempfile::NamedTempFile) {
    let program = format!("{:?}", command.get_program());
    let log = tempfile::NamedTempFile::new().expect("server log file");
    let out = log.reopen().expect("server log handle");
    let err = log.reopen().expect("server log handle");
    let mut child = command.stdout(out).stderr(err).spawn().unwrap_or_else(|e| {
        panic!("start {program}: {e} (.ci/run installs nats-server and s3s-fs)")
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(port) = port_in_log(log.path(), marker) {
            return (port, child, log);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("{program} exited with {status} before listening:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "{program} did not report its port after 10 s:\n{}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The port a server's log names: the digits after the last `:` of the first line
/// containing `marker`.
fn port_in_log(log: &Path, marker: &str) -> Option<u16> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| l.contains(marker))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

/// Kills `child`, if there is one, and reaps it.
fn kill(child: Option<Child>) {
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Starts a server on a known port (a restart) and waits until it listens.
fn start_on_port(mut command: Command, port: u16) -> Child {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("restart the server");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on {addr} after a restart"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// A NATS user of `deploy/nats/nats.conf`, one per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsUser {
    /// The gateway.
    Gateway,
    /// prepare.
    Prepare,
    /// The plotters (all six share it).
    Plotter,
    /// Other tools: subscribes to everything, publishes nothing.
    Observer,
}

impl NatsUser {
    /// Every user.
    pub const ALL: [NatsUser; 4] = [
        NatsUser::Gateway,
        NatsUser::Prepare,
        NatsUser::Plotter,
        NatsUser::Observer,
    ];

    /// The user name.
    pub fn name(self) -> &'static str {
        match self {
            NatsUser::Gateway => "gateway",
            NatsUser::Prepare => "prepare",
            NatsUser::Plotter => "plotter",
            NatsUser::Observer => "observer",
        }
    }

    /// The variable `deploy/nats/nats.conf` reads the user's password from.
    pub fn password_var(self) -> &'static str {
        match self {
            NatsUser::Gateway => "WAVEPLOT_NATS_GATEWAY_PASSWORD",
            NatsUser::Prepare => "WAVEPLOT_NATS_PREPARE_PASSWORD",
            NatsUser::Plotter => "WAVEPLOT_NATS_PLOTTER_PASSWORD",
            NatsUser::Observer => "WAVEPLOT_NATS_OBSERVER_PASSWORD",
        }
    }
}

/// The deployment's NATS configuration, `deploy/nats/nats.conf` of this workspace.
pub fn nats_conf() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats/nats.conf")
}

/// A running `nats-server` with JetStream on a free loopback port, its store in a
/// scratch directory that outlives restarts; killed on drop. Started either open to
/// anyone ([`NatsServer::start`]) or with the deployment's users and permissions
/// ([`NatsServer::start_secured`]).
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    store: tempfile::TempDir,
    /// The deployment's configuration, when started with it.
    secured: Option<Secured>,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

/// How a secured server runs: its users' passwords, and for TLS or a leaf link the
/// directory it runs in (copies of the deployment's configuration files, and `tls/`)
/// with the file it runs.
#[derive(Debug)]
struct Secured {
    passwords: Vec<(NatsUser, String)>,
    dir: Option<(tempfile::TempDir, &'static str)>,
    /// A leaf's link to its hub, `WAVEPLOT_NATS_HUB_URL` (a leaf runs no JetStream).
    hub_url: Option<String>,
}

impl NatsServer {
    /// Starts `nats-server -js` open to anyone and waits until it accepts connections.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// Starts `nats-server -js` with `deploy/nats/nats.conf` (its users and their
    /// permissions), a fresh random password per user, and waits until it accepts
    /// connections.
    pub fn start_secured() -> Self {
        Self::launch(Some(Secured {
            passwords: Self::passwords(),
            dir: None,
            hub_url: None,
        }))
    }

    /// Like [`NatsServer::start_secured`], with `deploy/nats/nats-tls.conf`: TLS on
    /// the client port with this certificate (PEM, chain first) and key; clients
    /// connect to [`NatsServer::tls_url`].
    pub fn start_secured_tls(cert_pem: &str, key_pem: &str) -> Self {
        let dir = Self::config_dir(&[
            ("tls/server.pem", cert_pem),
            ("tls/server-key.pem", key_pem),
        ]);
        Self::launch(Some(Secured {
            passwords: Self::passwords(),
            dir: Some((dir, "nats-tls.conf")),
            hub_url: None,
        }))
    }

    /// Like [`NatsServer::start_secured_tls`], with `deploy/nats/nats-hub.conf`: also
    /// a TLS listener for leaf nodes (on a free port here, not 7422) and JetStream as
    /// the domain `hub`. Boards join it with [`NatsServer::start_leaf`].
    pub fn start_hub_tls(cert_pem: &str, key_pem: &str) -> Self {
        let dir = Self::config_dir(&[
            ("tls/server.pem", cert_pem),
            ("tls/server-key.pem", key_pem),
        ]);
        let hub = dir.path().join("nats-hub.conf");
        let text = std::fs::read_to_string(&hub).expect("nats-hub.conf");
        assert!(
            text.contains("port: 7422"),
            "nats-hub.conf names its leaf port"
        );
        std::fs::write(&hub, text.replace("port: 7422", "port: -1")).expect("nats-hub.conf");
        Self::launch(Some(Secured {
            passwords: Self::passwords(),
            dir: Some((dir, "nats-hub.conf")),
            hub_url: None,
        }))
    }

    /// Starts a leaf node of `hub` with `deploy/nats/nats-leaf.conf`: passwords of its
    /// own for its local users, no JetStream, and a TLS link to the hub (trusting
    /// `ca_pem`) as the hub's `plotter`, as an extra board of plotters runs it; waits
    /// until the link is up.
    ///
    /// # Panics
    /// If `hub` was not started with [`NatsServer::start_hub_tls`], or the link does
    /// not come up within 10 s.
    pub fn start_leaf(hub: &NatsServer, ca_pem: &str) -> Self {
        let leaf_port = port_in_log(hub.log.path(), "Listening for leafnode connections on")
            .expect("the hub listens for leaf nodes");
        let login = hub.login(NatsUser::Plotter).expect("the hub has users");
        let hub_url = format!(
            "tls://{}:{}@127.0.0.1:{leaf_port}",
            login.user,
            login.password.expose_secret()
        );
        let dir = Self::config_dir(&[("tls/ca.pem", ca_pem)]);
        let leaf = Self::launch(Some(Secured {
            passwords: Self::passwords(),
            dir: Some((dir, "nats-leaf.conf")),
            hub_url: Some(hub_url),
        }));
        let deadline = Instant::now() + Duration::from_secs(10);
        let linked = |log: &Path| {
            std::fs::read_to_string(log).is_ok_and(|t| t.contains("Leafnode connection created"))
        };
        while !linked(leaf.log.path()) {
            assert!(
                Instant::now() < deadline,
                "the leaf did not link to its hub:\n{}",
                std::fs::read_to_string(leaf.log.path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        leaf
    }

    /// Starts `nats-server -js` in operator mode, trusting `operator` and its account
    /// (clients log in with its credentials files), and waits until it accepts
    /// connections.
    pub fn start_operator(operator: &operator::Operator) -> Self {
        let dir = tempfile::tempdir().expect("scratch directory for the configuration");
        std::fs::write(dir.path().join("operator.conf"), operator.config()).expect("config");
        Self::launch(Some(Secured {
            passwords: Vec::new(),
            dir: Some((dir, "operator.conf")),
            hub_url: None,
        }))
    }

    /// A scratch directory with copies of the deployment's NATS configuration files and
    /// `files` (path, content) beside them.
    fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("scratch directory for the configuration");
        let deploy = nats_conf().parent().expect("deploy/nats").to_path_buf();
        for file in [
            "nats.conf",
            "nats-tls.conf",
            "nats-hub.conf",
            "nats-leaf.conf",
        ] {
            std::fs::copy(deploy.join(file), dir.path().join(file)).expect("copy the config");
        }
        std::fs::create_dir(dir.path().join("tls")).expect("tls directory");
        for (path, content) in files {
            std::fs::write(dir.path().join(path), content).expect("write a TLS file");
        }
        dir
    }

    fn passwords() -> Vec<(NatsUser, String)> {
        NatsUser::ALL
            .iter()
            .map(|&user| {
                // nats-server parses a variable's value as configuration: it must start
                // with a letter to be read as a string (deploy/nats/nats.conf).
                let first = fastrand::alphabetic();
                let rest = std::iter::repeat_with(fastrand::alphanumeric).take(23);
                (user, std::iter::once(first).chain(rest).collect())
            })
            .collect()
    }

    fn launch(secured: Option<Secured>) -> Self {
        let store = tempfile::tempdir().expect("scratch directory for JetStream");
        let marker = "Listening for client connections on";
        let command = Self::command("-1", store.path(), secured.as_ref());
        let (port, child, log) = start_on_own_port(command, marker);
        Self {
            port,
            store,
            secured,
            child: Some(child),
            log,
        }
    }

    fn command(port: &str, store: &Path, secured: Option<&Secured>) -> Command {
        let mut cmd = Command::new("nats-server");
        let mut jetstream = true;
        if let Some(secured) = secured {
            match &secured.dir {
                Some((dir, file)) => cmd.current_dir(dir.path()).args(["-c", file]),
                None => cmd.arg("-c").arg(nats_conf()),
            };
            cmd.envs(secured.passwords.iter().map(|(u, p)| (u.password_var(), p)));
            if let Some(url) = &secured.hub_url {
                cmd.env("WAVEPLOT_NATS_HUB_URL", url);
                jetstream = false;
            }
        }
        cmd.args(["-a", "127.0.0.1", "-p", port]);
        if jetstream {
            cmd.args(["-js", "-sd"]).arg(store);
        }
        cmd
    }

    fn spawn(&mut self) {
        let command = Self::command(
            &self.port.to_string(),
            self.store.path(),
            self.secured.as_ref(),
        );
        self.child = Some(start_on_port(command, self.port));
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `tls://127.0.0.1:PORT`
    pub fn tls_url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.port)
    }

    /// How `user` logs in: `None` on a server open to anyone.
    pub fn login(&self, user: NatsUser) -> Option<NatsLogin> {
        let secured = self.secured.as_ref()?;
        let (_, password) = secured.passwords.iter().find(|(u, _)| *u == user)?;
        let login = NatsLogin::new(user.name(), SecretString::from(password.as_str()));
        Some(login.expect("the test passwords make valid logins"))
    }

    /// A plain async-nats client of this server's `url()`, logged in as `user` on a
    /// secured server, reading its replies under `_INBOX.<user>` as the services do:
    /// for what waveplot's `Bus` does not offer (a request with many replies).
    pub async fn client(&self, user: NatsUser) -> async_nats::Client {
        let options = match self.login(user) {
            Some(login) => async_nats::ConnectOptions::with_user_and_password(
                login.user,
                login.password.expose_secret().to_owned(),
            ),
            None => async_nats::ConnectOptions::new(),
        };
        options
            .custom_inbox_prefix(format!("_INBOX.{}", user.name()))
            .connect(self.url())
            .await
            .expect("connect to the test NATS server")
    }

    /// The JSON answers to one request on `subject` (a `$SRV` verb, say) that `client`
    /// publishes, gathered until 500 ms pass without one: for requests that many
    /// instances answer.
    pub async fn replies(client: &async_nats::Client, subject: String) -> Vec<serde_json::Value> {
        let inbox = client.new_inbox();
        let mut replies = client
            .subscribe(inbox.clone())
            .await
            .expect("subscribe to an inbox");
        client
            .publish_with_reply(subject, inbox, Default::default())
            .await
            .expect("publish the request");
        let mut answers = Vec::new();
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(500), replies.next()).await
        {
            answers.push(serde_json::from_slice(&m.payload).expect("a JSON answer"));
        }
        answers
    }

    /// The environment a service logging in as `user` gets: `NATS_USER` and
    /// `NATS_PASSWORD` (nothing on a server open to anyone).
    pub fn env(&self, user: NatsUser) -> Vec<(&'static str, String)> {
        self.login(user).map_or_else(Vec::new, |login| {
            vec![
                ("NATS_USER", login.user),
                ("NATS_PASSWORD", login.password.expose_secret().to_owned()),
            ]
        })
    }

    /// Kills the server (clients see the connection drop).
    pub fn stop(&mut self) {
        kill(self.child.take());
    }

    /// Starts the server again on the same port, over the same store.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Stops the server with SIGTERM, as a container runtime does, and starts it
    /// again on the same port over the same store.
    pub fn restart_gracefully(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill_process(Pid::from_child(&child), Signal::TERM);
            let _ = child.wait();
        }
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A service process under test; killed on drop. Its stderr goes to a file whose
/// content [`Service::log`] returns, to explain a failing test.
#[derive(Debug)]
pub struct Service {
    child: Option<Child>,
    log: tempfile::NamedTempFile,
    /// The address its health routes answer on, as the service logged it.
    pub health: SocketAddr,
}

/// The log line on which a service names the address its health routes listen on (the
/// field `health=`), when they have a listener of their own.
const HEALTH_LINE: (&str, &str) = ("health endpoint listening", "health");
/// The log line on which the gateway (or the single-process `waveplot`) names its HTTP
/// address (the field `addr=`), where its health routes answer too.
const SERVING_LINE: (&str, &str) = ("gateway is serving", "addr");

impl Service {
    /// Starts `binary` with `args` and `env`, plus `RUST_LOG=info` and `HEALTH_ADDR` on
    /// port 0: the service binds a port of its own choosing and logs it, so parallel
    /// tests never race for one. Waits until its `/readyz` answers 200.
    pub fn start(binary: &str, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut env = env.to_vec();
        env.push(("HEALTH_ADDR", "127.0.0.1:0".to_owned()));
        Self::spawn(binary, args, &env, HEALTH_LINE)
    }

    /// Starts a service whose health routes are on its HTTP listener (the gateway, or
    /// `waveplot`); `args` or `env` name that listener's address, port 0 to let it
    /// choose one. The address it bound is [`Service::health`].
    pub fn start_http(binary: &str, args: &[&str], env: &[(&str, String)]) -> Self {
        Self::spawn(binary, args, env, SERVING_LINE)
    }

    fn spawn(
        binary: &str,
        args: &[&str],
        env: &[(&str, String)],
        (line, field): (&str, &str),
    ) -> Self {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let stderr = log.reopen().expect("log file handle");
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let mut service = Self {
            child: Some(child),
            log,
            health: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        service.health = service.wait_listening(binary, line, field);
        service.wait_healthy(binary);
        service
    }

    /// Waits for the log line containing `line` and returns the address in its
    /// `field=ADDR`.
    fn wait_listening(&mut self, binary: &str, line: &str, field: &str) -> SocketAddr {
        let prefix = format!("{field}=");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            let addr = log
                .lines()
                .find(|l| l.contains(line))
                .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix(&prefix)))
                .and_then(|a| a.parse().ok());
            if let Some(addr) = addr {
                return addr;
            }
            self.assert_running(binary, deadline, "listening");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Panics with the log if the process exited or `deadline` passed before it was
    /// `what`.
    fn assert_running(&mut self, binary: &str, deadline: Instant, what: &str) {
        let exited = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            panic!(
                "{binary} exited with {status} before it was {what}:\n{}",
                self.log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{binary} not {what} after 20 s:\n{}",
            self.log()
        );
    }

    fn wait_healthy(&mut self, binary: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !probe(self.health) {
            self.assert_running(binary, deadline, "healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process runs (it has not exited, and was not killed here).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// True if its `/readyz` answers 200 now.
    pub fn is_ready(&self) -> bool {
        probe(self.health)
    }

    /// Peak resident memory (VmHWM) in bytes, read from /proc while it runs.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// What the service logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Sends SIGKILL (no chance to clean up), like a crash.
    pub fn kill(&mut self) {
        kill(self.child.take());
    }

    /// Sends SIGTERM and waits for the exit status (a graceful shutdown).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = kill_process(Pid::from_child(&child), Signal::TERM);
        child.wait().ok()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}
