//! Test harness for tests that cross process boundaries: it starts the real servers
//! (`nats-server`, an S3 server) on free loopback ports and stops them when dropped.
//! Tests never skip because a server is missing: a missing binary fails the test
//! with the command that installs it (`.ci/run` installs them all).
//!
//! # Layout
//!
//! - [`NatsServer`]: a `nats-server` process.
//! - [`S3Server`]: an `s3s-fs` process, an S3 server over a scratch directory that
//!   checks SigV4 signatures like MinIO does.
//! - [`Service`]: a service binary of this workspace, with its log kept for failures.
//! - [`free_port`]: a free loopback TCP port.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, read, released; the race with other processes
/// is acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

/// True if `GET http://ADDR/PATH` answers 200.
pub fn http_ok(addr: SocketAddr, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut response = String::new();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.split_whitespace().nth(1) == Some("200")
}

/// Starts a server on a free port, retrying on another port if the first was taken
/// between choosing it and binding it (tests run in parallel processes).
fn start_on_free_port(command: impl Fn(u16) -> Command) -> (u16, Child) {
    for _ in 0..5 {
        let port = free_port();
        if let Some(child) = start_on(&command, port) {
            return (port, child);
        }
    }
    panic!("could not start a server on a free port after 5 tries");
}

/// Starts a server on `port` and waits until it listens there; `None` if it exited
/// (the port was taken). Success needs the process alive after the port answers, so a
/// port answered by another test's server does not count.
fn start_on(command: impl Fn(u16) -> Command, port: u16) -> Option<Child> {
    let program = format!("{:?}", command(port).get_program());
    let mut child = command(port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("start {program}: {e} (.ci/run installs nats-server and s3s-fs)")
        });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            std::thread::sleep(Duration::from_millis(100));
            return match child.try_wait() {
                Ok(None) => Some(child),
                _ => None,
            };
        }
        assert!(
            Instant::now() < deadline,
            "{program} does not listen on {addr} after 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running `nats-server` on a free loopback port; killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `nats-server` and waits until it accepts connections.
    pub fn start() -> Self {
        let (port, child) = start_on_free_port(Self::command);
        Self {
            port,
            child: Some(child),
        }
    }

    fn command(port: u16) -> Command {
        let mut cmd = Command::new("nats-server");
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
        cmd
    }

    fn spawn(&mut self) {
        self.child =
            Some(start_on(Self::command, self.port).expect("restart nats-server on its port"));
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (clients see the connection drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Access key of the test S3 server.
pub const S3_ACCESS_KEY: &str = "waveplot-test";
/// Secret key of the test S3 server.
pub const S3_SECRET_KEY: &str = "waveplot-test-secret";

/// A running `s3s-fs` S3 server over a scratch directory; killed on drop.
#[derive(Debug)]
pub struct S3Server {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl S3Server {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("scratch directory for the S3 server");
        let path = dir.path().to_owned();
        let (port, child) = start_on_free_port(|port| Self::command(&path, port));
        Self {
            port,
            dir,
            child: Some(child),
        }
    }

    fn command(dir: &std::path::Path, port: u16) -> Command {
        let mut cmd = Command::new("s3s-fs");
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(dir);
        cmd
    }

    fn spawn(&mut self) {
        let dir = self.dir.path().to_owned();
        let child = start_on(|port| Self::command(&dir, port), self.port)
            .expect("restart s3s-fs on its port");
        self.child = Some(child);
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a service needs to use this server (`AWS_*` variables).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY.to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// Kills the server; its data stays for [`S3Server::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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

/// A service process under test; killed on drop. Its stderr goes to a file whose
/// content [`Service::log`] returns, to explain a failing test.
#[derive(Debug)]
pub struct Service {
    child: Option<Child>,
    log: tempfile::NamedTempFile,
    /// The health endpoint's address (`HEALTH_ADDR`), on a free port.
    pub health: SocketAddr,
}

impl Service {
    /// Starts `binary` with `args` and `env` (plus `HEALTH_ADDR` on a free port and
    /// `RUST_LOG=info`), and waits until its `/readyz` answers 200.
    pub fn start(binary: &str, args: &[&str], env: &[(&str, String)]) -> Self {
        Self::spawn(
            binary,
            args,
            env,
            SocketAddr::from(([127, 0, 0, 1], free_port())),
        )
    }

    /// Starts a service whose health routes are on its HTTP `port` (the gateway).
    pub fn start_http(binary: &str, args: &[&str], env: &[(&str, String)], port: u16) -> Self {
        Self::spawn(binary, args, env, SocketAddr::from(([127, 0, 0, 1], port)))
    }

    fn spawn(binary: &str, args: &[&str], env: &[(&str, String)], health: SocketAddr) -> Self {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let stderr = log.reopen().expect("log file handle");
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("HEALTH_ADDR", health.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let mut service = Self {
            child: Some(child),
            log,
            health,
        };
        service.wait_healthy(binary);
        service
    }

    fn wait_healthy(&mut self, binary: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !http_ok(self.health, "/readyz") {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "{binary} exited with {status} before it was healthy:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{binary} not healthy after 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit status (a graceful shutdown).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().ok()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}
