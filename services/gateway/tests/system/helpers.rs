//! Starts the whole system from the real binaries: nats-server, an S3 server, prepare,
//! six plotters and the gateway, each on free loopback ports. Talks to the gateway over
//! HTTP like a browser would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use waveplot_protocol::PlotId;
use waveplot_testkit::{NatsServer, S3Server, Service, free_port, http_client_builder};

/// A service binary of this workspace, next to the gateway's.
pub fn binary(name: &str) -> String {
    let gateway = PathBuf::from(env!("CARGO_BIN_EXE_gateway"));
    let path = gateway.with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo nextest run --workspace`",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

/// The distributed system.
pub struct System {
    pub nats: NatsServer,
    pub s3: S3Server,
    pub prepare: Option<Service>,
    pub plotters: Vec<(PlotId, Service)>,
    pub gateway: Service,
    pub http: String,
}

impl System {
    /// Everything, with a render deadline of `deadline_s` seconds.
    pub fn start(deadline_s: u64) -> Self {
        let nats = NatsServer::start();
        let s3 = S3Server::start();
        let env = Self::env_of(&nats, &s3);
        let prepare = Some(Service::start(&binary("prepare"), &[], &env));
        let plotters = PlotId::ALL
            .iter()
            .map(|p| (*p, Self::plotter(&env, *p)))
            .collect();
        let port = free_port();
        let mut gateway_env = env.clone();
        gateway_env.push(("HTTP_ADDR", format!("127.0.0.1:{port}")));
        gateway_env.push(("RENDER_DEADLINE", format!("{deadline_s}s")));
        let gateway = Service::start_http(&binary("gateway"), &[], &gateway_env, port);
        Self {
            nats,
            s3,
            prepare,
            plotters,
            gateway,
            http: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The environment every service gets.
    pub fn env_of(nats: &NatsServer, s3: &S3Server) -> Vec<(&'static str, String)> {
        let mut env = s3.env();
        env.push(("NATS_URL", nats.url()));
        env.push(("STORE_URL", "s3://waveplot".into()));
        env
    }

    /// Starts one more plotter of `plot`.
    pub fn plotter(env: &[(&'static str, String)], plot: PlotId) -> Service {
        let mut env = env.to_vec();
        env.push(("PLOT_ID", plot.to_string()));
        Service::start(&binary("plotter"), &[], &env)
    }

    /// The environment of this system.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        Self::env_of(&self.nats, &self.s3)
    }

    /// Every service's log, for a failing assertion.
    pub fn logs(&self) -> String {
        let mut all = format!("--- gateway\n{}", self.gateway.log());
        if let Some(p) = &self.prepare {
            all += &format!("--- prepare\n{}", p.log());
        }
        for (plot, s) in &self.plotters {
            all += &format!("--- plotter {plot}\n{}", s.log());
        }
        all
    }
}

/// A blocking HTTP client with short timeouts.
pub fn client() -> reqwest::blocking::Client {
    http_client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `POST /api/render` with `body`; returns the status code and JSON.
pub fn post_render(http: &str, body: &Value) -> (u16, Value) {
    let res = client()
        .post(format!("{http}/api/render"))
        .json(body)
        .send()
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().unwrap())
}

/// Polls `GET /api/render/{id}` until it is no longer running, or `limit` passes.
pub fn wait_final(http: &str, id: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let st: Value = client()
            .get(format!("{http}/api/render/{id}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if st["state"] != "running" {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "render {id} still running after {limit:?}: {st}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
