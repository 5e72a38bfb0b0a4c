//! A small W3C WebDriver client over reqwest: Debian's `chromedriver` (package `chromium-driver`)
//! on an ephemeral loopback port driving headless `chromium` (package `chromium`). It does what
//! the console's tests need — sessions with JavaScript on or off, navigation, finding by CSS,
//! clicking, typing, pressing keys on whatever has the focus, reading text, attributes, the page
//! source and the URL, running a script for assertions, cookies and screenshots — and nothing
//! else; no TLS stack of its own.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::binaries::{CHROMEDRIVER, CHROMIUM};

/// The key W3C WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running `chromedriver`, killed when dropped.
pub struct ChromeDriver {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl ChromeDriver {
    /// Starts `chromedriver` on a free loopback port and waits (bounded) until it is ready.
    ///
    /// # Panics
    ///
    /// When `chromium` or `chromedriver` is missing (naming the package) or it does not start.
    pub async fn start() -> ChromeDriver {
        CHROMIUM.path();
        let program = CHROMEDRIVER.path();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok()
                .map(reqwest::Response::json::<Value>);
            if let Some(answer) = ready {
                if answer
                    .await
                    .ok()
                    .is_some_and(|v| v["value"]["ready"] == true)
                {
                    return driver;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new headless browser session; `javascript: false` switches scripts off in it.
    pub async fn session(&self, javascript: bool) -> Browser {
        self.session_with_args(javascript, &[]).await
    }

    /// [`ChromeDriver::session`] with extra Chromium switches (such as
    /// `--ignore-certificate-errors-spki-list=HASH`, to trust one test certificate).
    pub async fn session_with_args(&self, javascript: bool, extra: &[String]) -> Browser {
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,1000",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--password-store=basic",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend_from_slice(extra);
        let mut options = json!({ "binary": CHROMIUM.path(), "args": args });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let answer: Value = self
            .http
            .post(format!("{}/session", self.url))
            .json(&json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome", "goog:chromeOptions": options } } }))
            .send()
            .await
            .expect("new session request")
            .json()
            .await
            .expect("new session answer");
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused a session: {answer}"));
        Browser {
            http: self.http.clone(),
            base: format!("{}/session/{id}", self.url),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
pub struct Browser {
    http: reqwest::Client,
    base: String,
}

/// An element found in the page.
#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

impl Browser {
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        match self.try_command(method, path, body).await {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// A command whose WebDriver error is an answer, not a panic (an element replaced by a
    /// navigation while a test waits for a page).
    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let request = self.http.request(method, &url);
        let request = match body {
            Some(b) => request.json(&b),
            None => request,
        };
        let answer: Value = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("webdriver {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("webdriver {path}: not JSON: {e}"));
        if let Some(error) = answer["value"]["error"].as_str() {
            return Err(format!(
                "webdriver {path}: {error}: {}",
                answer["value"]["message"]
            ));
        }
        Ok(answer["value"].clone())
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        self.get("/title")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's source as the browser holds it now.
    pub async fn source(&self) -> String {
        self.get("/source")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The elements matching `css`, possibly none.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str())
                    .map(|id| Element { id: id.to_owned() })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waiting up to 10 s for it to appear.
    ///
    /// # Panics
    ///
    /// When none appears.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            if Instant::now() >= deadline {
                let source = self.source().await;
                let main = source.split("<main").nth(1).unwrap_or(&source);
                panic!(
                    "no element matches {css:?} on {}; the page's main part: {}",
                    self.url().await,
                    main.chars().take(2000).collect::<String>()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to 20 s until `css` matches an element whose text contains `text`; answers that
    /// text.
    pub async fn wait_text(&self, css: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for e in self.find_all(css).await {
                let t = self
                    .try_command(
                        reqwest::Method::GET,
                        &format!("/element/{}/text", e.id),
                        None,
                    )
                    .await
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                if t.contains(text) {
                    return t;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {css:?} with text {text:?} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the element.
    pub async fn click(&self, e: &Element) {
        self.post(&format!("/element/{}/click", e.id), json!({}))
            .await;
    }

    /// Types `text` into the element.
    pub async fn send_keys(&self, e: &Element, text: &str) {
        self.post(&format!("/element/{}/value", e.id), json!({ "text": text }))
            .await;
    }

    /// Presses and releases each key in turn on whatever element has the keyboard focus, as a
    /// user at the keyboard does (W3C key actions: nothing is focused or clicked first). Keys are
    /// characters or WebDriver's key code points: [`Browser::TAB`], [`Browser::ENTER`], …
    pub async fn press(&self, keys: &[&str]) {
        let actions: Vec<Value> = keys
            .iter()
            .flat_map(|k| {
                [
                    json!({ "type": "keyDown", "value": k }),
                    json!({ "type": "keyUp", "value": k }),
                ]
            })
            .collect();
        self.post(
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        )
        .await;
    }

    /// Types `text` key by key into whatever element has the focus.
    pub async fn type_text(&self, text: &str) {
        let keys: Vec<String> = text.chars().map(String::from).collect();
        self.press(&keys.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
    }

    /// The Tab key, for [`Browser::press`].
    pub const TAB: &'static str = "\u{E004}";
    /// The Enter key.
    pub const ENTER: &'static str = "\u{E007}";
    /// The down arrow key.
    pub const DOWN: &'static str = "\u{E015}";

    /// Empties an input.
    pub async fn clear(&self, e: &Element) {
        self.post(&format!("/element/{}/clear", e.id), json!({}))
            .await;
    }

    /// The element's rendered text.
    pub async fn text(&self, e: &Element) -> String {
        self.get(&format!("/element/{}/text", e.id))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element's attribute `name`, if set.
    pub async fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        self.get(&format!("/element/{}/attribute/{name}", e.id))
            .await
            .as_str()
            .map(str::to_owned)
    }

    /// The element's property `name` (e.g. an input's current `value`).
    pub async fn property(&self, e: &Element, name: &str) -> Value {
        self.get(&format!("/element/{}/property/{name}", e.id))
            .await
    }

    /// Whether the element is shown.
    pub async fn displayed(&self, e: &Element) -> bool {
        self.get(&format!("/element/{}/displayed", e.id)).await == true
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and answers its return value.
    /// For assertions: tests read state with it, they do not drive the page with it.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// The cookies the page can see, as WebDriver reports them (with `httpOnly`, `sameSite`).
    pub async fn cookies(&self) -> Vec<Value> {
        self.get("/cookie")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces a cookie's value (for forging tests).
    pub async fn set_cookie(&self, name: &str, value: &str) {
        self.post(
            "/cookie",
            json!({ "cookie": { "name": name, "value": value, "path": "/" } }),
        )
        .await;
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let data = self.get("/screenshot").await;
        let png = B64
            .decode(data.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Ends the session (the browser exits).
    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}
