//! The system, or a part of it, started from this workspace's binaries: a nats-server
//! with the deployment's users and permissions (each service logs in as its role), an
//! S3 server and the services (prepare, the six plotters, the gateway), each on free
//! loopback ports and each waited for until ready. A [`StackBuilder`] says which
//! services run, what extra environment each gets, where the binaries are and the
//! gateway's render deadline; the [`Stack`] kills, restarts and adds services, opens the
//! blob store and gathers every log for a failing assertion.
//!
//! The binaries are taken from [`bin_dir`], where cargo puts them beside the test
//! executables; `cargo nextest run --workspace` builds every one of them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use waveplot_protocol::PlotId;
use waveplot_service::{Store, StoreError};

use crate::s3::{CHARTS_BUCKET, DATA_BUCKET};
use crate::{NatsServer, NatsUser, S3Key, S3Server, Service};

/// The directory cargo puts this workspace's binaries in, found from the running
/// executable: a test runs from `target/PROFILE/deps`, a binary (the bench) from
/// `target/PROFILE`, and the binaries are in `target/PROFILE`.
///
/// # Panics
/// If the path of the running executable is unknown.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running executable");
    let dir = exe.parent().expect("the running executable's directory");
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    dir.to_path_buf()
}

/// A service of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `prepare`: loads candles, runs the analysis and stores the blob.
    Prepare,
    /// `plotter` with `PLOT_ID`: draws one of the six charts.
    Plotter(PlotId),
    /// `gateway`: the HTTP API, on the stack's HTTP port.
    Gateway,
}

impl Role {
    /// The whole system, in start order: prepare, the six plotters, the gateway.
    pub const ALL: [Role; 8] = [
        Role::Prepare,
        Role::Plotter(PlotId::Overview),
        Role::Plotter(PlotId::Approximations),
        Role::Plotter(PlotId::Bands),
        Role::Plotter(PlotId::Anomalies),
        Role::Plotter(PlotId::Signals),
        Role::Plotter(PlotId::Statistics),
        Role::Gateway,
    ];

    /// The S3 key the service holds.
    pub fn s3_key(self) -> S3Key {
        match self {
            Role::Prepare => S3Key::Prepare,
            Role::Plotter(_) => S3Key::Plotter,
            Role::Gateway => S3Key::Gateway,
        }
    }

    /// The NATS user the service logs in as.
    pub fn nats_user(self) -> NatsUser {
        match self {
            Role::Prepare => NatsUser::Prepare,
            Role::Plotter(_) => NatsUser::Plotter,
            Role::Gateway => NatsUser::Gateway,
        }
    }

    /// The file name of the service's binary.
    pub fn binary(self) -> &'static str {
        match self {
            Role::Prepare => "prepare",
            Role::Plotter(_) => "plotter",
            Role::Gateway => "gateway",
        }
    }
}

/// `prepare`, `plotter-01` … `plotter-05`, `gateway`.
impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Plotter(plot) => write!(f, "plotter-{plot}"),
            other => f.write_str(other.binary()),
        }
    }
}

/// What a [`Stack`] starts; from [`Stack::builder`].
#[derive(Debug, Clone)]
pub struct StackBuilder {
    roles: Vec<Role>,
    extra: Vec<(Role, &'static str, String)>,
    bin_dir: PathBuf,
    garage: bool,
    render_deadline: Option<Duration>,
}

impl StackBuilder {
    /// Starts only these services, in this order (default: [`Role::ALL`]).
    pub fn roles(mut self, roles: impl IntoIterator<Item = Role>) -> Self {
        self.roles = roles.into_iter().collect();
        self
    }

    /// Gives the services of `role` the environment variable `key` too.
    pub fn env(mut self, role: Role, key: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((role, key, value.into()));
        self
    }

    /// Takes the binaries from `dir` (default: [`bin_dir`]).
    pub fn bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bin_dir = dir.into();
        self
    }

    /// Runs the store on Garage, each service with its role's own key
    /// ([`S3Server::start_garage`]), instead of `s3s-fs` with one key for all.
    pub fn garage(mut self) -> Self {
        self.garage = true;
        self
    }

    /// Gives the gateway this `RENDER_DEADLINE` (default: the gateway's own).
    pub fn render_deadline(mut self, deadline: Duration) -> Self {
        self.render_deadline = Some(deadline);
        self
    }

    /// The first binary the services need that the bin directory lacks.
    pub fn missing_binary(&self) -> Option<PathBuf> {
        self.roles
            .iter()
            .map(|role| self.bin_dir.join(role.binary()))
            .find(|path| !path.exists())
    }

    /// Starts nats-server, the S3 server and then the services one after another, each
    /// waited for until its `/readyz` answers 200.
    ///
    /// # Panics
    /// If a binary is not built, or a server or service does not start.
    pub fn start(self) -> Stack {
        if let Some(path) = self.missing_binary() {
            panic!(
                "{} is not built; run the tests with `cargo nextest run --workspace`",
                path.display()
            );
        }
        let nats = NatsServer::start_secured();
        let s3 = if self.garage {
            S3Server::start_garage()
        } else {
            S3Server::start()
        };
        let logins = NatsUser::ALL.map(|user| (user, nats.env(user)));
        let keys = [S3Key::Gateway, S3Key::Prepare, S3Key::Plotter].map(|k| (k, s3.env_for(k)));
        let mut launcher = Launcher {
            bin_dir: self.bin_dir,
            nats_url: nats.url(),
            keys,
            logins,
            extra: self.extra,
            render_deadline: self.render_deadline,
            http_port: 0,
        };
        let services = self
            .roles
            .into_iter()
            .map(|role| (role, launcher.launch(role)))
            .collect();
        Stack {
            nats,
            s3,
            services,
            launcher,
        }
    }
}

/// How the stack starts a service, again whenever asked.
#[derive(Debug)]
struct Launcher {
    bin_dir: PathBuf,
    nats_url: String,
    /// Each role's S3 key, as `AWS_*` settings.
    keys: [(S3Key, Vec<(&'static str, String)>); 3],
    /// Each NATS user's `NATS_USER` and `NATS_PASSWORD`.
    logins: [(NatsUser, Vec<(&'static str, String)>); 4],
    extra: Vec<(Role, &'static str, String)>,
    render_deadline: Option<Duration>,
    /// The gateway's HTTP port: 0 until it first starts (it binds one of its own
    /// choosing), then the one it bound, so that a restart keeps the address.
    http_port: u16,
}

impl Launcher {
    /// Starts a service of `role` and waits until it is ready.
    fn launch(&mut self, role: Role) -> Service {
        let binary = binary_path(&self.bin_dir, role);
        let mut env = vec![("NATS_URL", self.nats_url.clone())];
        let user = role.nats_user();
        let login = self.logins.iter().find(|(u, _)| *u == user);
        env.extend(login.into_iter().flat_map(|(_, vars)| vars.iter().cloned()));
        let key = role.s3_key();
        let key = self.keys.iter().find(|(k, _)| *k == key);
        env.extend(key.into_iter().flat_map(|(_, vars)| vars.iter().cloned()));
        // As compose.yaml: the gateway's store is the charts' bucket alone.
        if role == Role::Gateway {
            env.push(("STORE_URL", format!("s3://{CHARTS_BUCKET}")));
        } else {
            env.push(("STORE_URL", format!("s3://{DATA_BUCKET}")));
            env.push(("CHARTS_STORE_URL", format!("s3://{CHARTS_BUCKET}")));
        }
        match role {
            Role::Prepare => {}
            Role::Plotter(plot) => env.push(("PLOT_ID", plot.to_string())),
            Role::Gateway => {
                env.push(("HTTP_ADDR", format!("127.0.0.1:{}", self.http_port)));
                if let Some(deadline) = self.render_deadline {
                    env.push(("RENDER_DEADLINE", format!("{}ms", deadline.as_millis())));
                }
            }
        }
        let extra = self.extra.iter().filter(|(r, _, _)| *r == role);
        env.extend(extra.map(|(_, key, value)| (*key, value.clone())));
        match role {
            Role::Gateway => {
                env.push(("HEALTH_ADDR", format!("127.0.0.1:{}", self.http_port)));
                let gateway = Service::start_http(&binary, &[], &env);
                self.http_port = gateway.health.port();
                gateway
            }
            _ => Service::start(&binary, &[], &env),
        }
    }
}

fn binary_path(dir: &Path, role: Role) -> String {
    dir.join(role.binary()).to_string_lossy().into_owned()
}

/// A running stack; every process is killed when it is dropped.
#[derive(Debug)]
pub struct Stack {
    /// The NATS server (stop or restart it for an outage).
    pub nats: NatsServer,
    /// The S3 server (stop or restart it for an outage).
    pub s3: S3Server,
    services: Vec<(Role, Service)>,
    launcher: Launcher,
}

impl Stack {
    /// A builder for the whole system from the binaries in [`bin_dir`].
    pub fn builder() -> StackBuilder {
        StackBuilder {
            roles: Role::ALL.to_vec(),
            extra: Vec::new(),
            bin_dir: bin_dir(),
            garage: false,
            render_deadline: None,
        }
    }

    /// The gateway's base URL, `http://127.0.0.1:PORT`.
    ///
    /// # Panics
    /// If the stack has no gateway.
    pub fn http(&self) -> String {
        assert!(
            self.services.iter().any(|(r, _)| *r == Role::Gateway),
            "the stack has no gateway"
        );
        format!("http://127.0.0.1:{}", self.launcher.http_port)
    }

    /// Every service, in start order (an added replica last).
    pub fn services(&self) -> impl Iterator<Item = (Role, &Service)> {
        self.services.iter().map(|(role, s)| (*role, s))
    }

    /// The (first) service of `role`.
    ///
    /// # Panics
    /// If the stack has no such service.
    pub fn service(&self, role: Role) -> &Service {
        let found = self.services.iter().find(|(r, _)| *r == role);
        found
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no {role} in the stack"))
    }

    /// The (first) service of `role`, to stop, signal or ask whether it runs.
    ///
    /// # Panics
    /// If the stack has no such service.
    pub fn service_mut(&mut self, role: Role) -> &mut Service {
        let found = self.services.iter_mut().find(|(r, _)| *r == role);
        found
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no {role} in the stack"))
    }

    /// Kills the (first) service of `role` with SIGKILL, like a crash; its log stays.
    pub fn kill(&mut self, role: Role) {
        self.service_mut(role).kill();
    }

    /// Kills the (first) service of `role` if it still runs and starts it again with
    /// the same settings, as a container runtime's restart policy would; waits until
    /// it is ready.
    pub fn restart(&mut self, role: Role) {
        self.kill(role);
        let fresh = self.launcher.launch(role);
        *self.service_mut(role) = fresh;
    }

    /// Starts one more service of `role` (another replica) and waits until it is ready.
    pub fn add_replica(&mut self, role: Role) {
        let service = self.launcher.launch(role);
        self.services.push((role, service));
    }

    /// A client of the stack's store (both buckets, with the administrator's key).
    pub async fn store(&self) -> Result<Store, StoreError> {
        self.store_with(S3Key::Admin).await
    }

    /// A client of the stack's store (both buckets) with `key`.
    pub async fn store_with(&self, key: S3Key) -> Result<Store, StoreError> {
        let vars = || {
            self.s3
                .env_for(key)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
        };
        let data = Store::open_with(&format!("s3://{DATA_BUCKET}"), vars()).await?;
        let charts = Store::open_with(&format!("s3://{CHARTS_BUCKET}"), vars()).await?;
        Ok(data.with_charts(charts))
    }

    /// Every service's log, each under a `--- ROLE` line, for a failing assertion.
    pub fn logs(&self) -> String {
        self.services
            .iter()
            .map(|(role, s)| format!("--- {role}\n{}", s.log()))
            .collect()
    }
}
