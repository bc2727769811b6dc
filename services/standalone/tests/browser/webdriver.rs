//! Just enough of the W3C WebDriver protocol to drive headless Chromium through
//! chromedriver: a session with a fresh profile, navigation, scripts, clicks, typing,
//! Chromium's device emulation and screenshots. Blocking, JSON over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use waveplot_testkit::{free_port, http_client_builder, wait_for_port};

/// What to install when the browser or its driver is missing.
const INSTALL: &str = "install them: apt-get install chromium chromium-driver";

/// The key WebDriver uses for an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The full path of `program` on `PATH`, or a panic that says how to install it.
fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH; the browser tests need Chromium and chromedriver ({INSTALL})"))
}

/// A chromedriver process on a free loopback port; killed on drop.
pub struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    /// Starts chromedriver and waits until it accepts connections.
    pub fn start() -> Self {
        let driver = which("chromedriver");
        let port = free_port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e} ({INSTALL})", driver.display()));
        wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(10));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session with its own throw-away profile; closed on drop.
pub struct Browser {
    http: reqwest::blocking::Client,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Opens Chromium with a `width`×`height` window.
    pub fn open(driver: &Chromedriver, width: u32, height: u32) -> Self {
        let profile = tempfile::tempdir().expect("profile directory");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-dev-shm-usage",
            &format!("--window-size={width},{height}"),
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": which("chromium"), "args": args},
        }}});
        let http = http_client_builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let answer = call(
            &http,
            "POST",
            &format!("{}/session", driver.url),
            &capabilities,
        );
        let session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver opened no session: {answer}"))
            .to_owned();
        Self {
            http,
            session: format!("{}/session/{session}", driver.url),
            _profile: profile,
        }
    }

    fn command(&self, method: &str, path: &str, body: &Value) -> Value {
        call(&self.http, method, &format!("{}{path}", self.session), body)
    }

    /// Loads `url` and waits for the document.
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", &json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn run(&self, script: &str, args: &[Value]) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            &json!({"script": script, "args": args}),
        )
    }

    /// Polls `script` until it returns something truthy, or panics naming `what`
    /// with the page's message line.
    pub fn wait_for(&self, what: &str, script: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.run(script, &[]);
            let truthy = !matches!(value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let message = self.text("#notice");
                panic!("no {what} after {limit:?}; the page says: {message:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text of the first element matching `css` (empty if none).
    pub fn text(&self, css: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''";
        self.run(script, &[json!(css)])
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn element(&self, css: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            &json!({"using": "css selector", "value": css}),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Clicks the element matching `css`, as a user would: once it is shown (a page
    /// may hide a button for a moment while it redraws its message, and chromedriver
    /// refuses to click a hidden element).
    pub fn click(&self, css: &str) {
        let shown = format!(
            "const e = document.querySelector({}); return !!e && !e.hidden && e.offsetParent !== null",
            json!(css)
        );
        self.wait_for(&format!("{css} on screen"), &shown, Duration::from_secs(10));
        let id = self.element(css);
        self.command("POST", &format!("/element/{id}/click"), &json!({}));
    }

    /// Replaces the text of the field matching `css` by typing `text`.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.command("POST", &format!("/element/{id}/clear"), &json!({}));
        self.command(
            "POST",
            &format!("/element/{id}/value"),
            &json!({ "text": text }),
        );
    }

    /// Chooses `value` in the select matching `css` and tells the page it changed.
    pub fn select(&self, css: &str, value: &str) {
        let script = "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
                      s.dispatchEvent(new Event('change', {bubbles: true})); return s.value";
        let chosen = self.run(script, &[json!(css), json!(value)]);
        assert_eq!(chosen, json!(value), "{css} has no option {value}");
    }

    /// Emulates a screen `width` CSS pixels wide (Chromium's windows have a minimum
    /// width larger than a phone's, so a narrow window is not enough).
    pub fn emulate_width(&self, width: u32, height: u32, mobile: bool) {
        let params =
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile});
        self.command(
            "POST",
            "/goog/cdp/execute",
            &json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": params}),
        );
    }

    /// Saves a screenshot of the whole page (not only the viewport) as `path`.
    pub fn screenshot(&self, path: &Path) {
        let size = self.run(
            "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]",
            &[],
        );
        let params = json!({"format": "png", "captureBeyondViewport": true, "clip": {
            "x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}});
        let shot = self.command(
            "POST",
            "/goog/cdp/execute",
            &json!({"cmd": "Page.captureScreenshot", "params": params}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot is base64");
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.session).send();
    }
}

/// One WebDriver call; an error answer fails the test with the driver's message.
fn call(http: &reqwest::blocking::Client, method: &str, url: &str, body: &Value) -> Value {
    let request = match method {
        "POST" => http.post(url).json(body),
        _ => http.get(url),
    };
    let response = request
        .send()
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status();
    let answer: Value = response
        .json()
        .unwrap_or_else(|e| panic!("{method} {url}: not JSON: {e}"));
    assert!(
        status.is_success(),
        "{method} {url} failed with {status}: {}",
        answer["value"]
    );
    answer["value"].clone()
}
