//! A real headless browser for tests: Debian's `chromium`, driven over
//! WebDriver through `chromedriver` (`scripts/test.sh` installs both when
//! missing). A fresh profile per browser; no network is needed or used (host
//! names other than localhost do not resolve, so a page's external font or
//! script fails at once instead of leaving the machine).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http;

/// The key WebDriver gives element references under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
    probe.local_addr().expect("probe addr").port()
}

fn find_binary(names: &[&str]) -> Option<String> {
    names.iter().find(|p| Path::new(p).exists()).map(|p| (*p).to_string())
}

#[allow(dead_code)]
impl Browser {
    pub fn start() -> Browser {
        let chromium = find_binary(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"]).expect(
            "chromium is not installed: run ./scripts/test.sh (it installs chromium), or apt-get install chromium",
        );
        let chromedriver = find_binary(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]).expect(
            "chromedriver is not installed: run ./scripts/test.sh (it installs chromium-driver), or apt-get install chromium-driver",
        );
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = std::net::TcpStream::connect(&addr).is_ok()
                && http::get(&addr, "/status", &[]).json()["value"]["ready"] == true;
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::Builder::new().prefix("cadenced-chromium").tempdir().expect("profile dir");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE 127.0.0.2".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let mut browser = Browser { driver, addr, session: String::new(), _profile: profile };
        let created = browser.call("POST", "/session", &capabilities);
        browser.session = created["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_string();
        browser
    }

    /// A WebDriver command; its `value`, or a panic with WebDriver's error.
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if method == "POST" { body.to_string() } else { String::new() };
        let r = http::request(
            &self.addr,
            method,
            path,
            &[("Content-Type", "application/json; charset=utf-8")],
            body.as_bytes(),
        );
        let doc = r.json();
        assert!(r.status == 200, "WebDriver {method} {path}: {} {}", r.status, doc);
        doc["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: &Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", &json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.session_call("GET", "/url", &Value::Null).as_str().unwrap_or_default().to_string()
    }

    pub fn source(&self) -> String {
        self.session_call("GET", "/source", &Value::Null).as_str().unwrap_or_default().to_string()
    }

    /// Every element matching the CSS selector, now.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self.session_call("POST", "/elements", &json!({"using": "css selector", "value": css}));
        found
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e[ELEMENT].as_str())
                    .map(|id| Element { browser: self, id: id.to_string() })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The element matching the CSS selector, waited for up to 10 s (pages load after a click).
    pub fn find(&self, css: &str) -> Element<'_> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.find_all(css).into_iter().next() {
                return e;
            }
            assert!(Instant::now() < deadline, "no element {css:?} on {}:\n{}", self.url(), self.source());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

#[allow(dead_code)]
impl Element<'_> {
    fn call(&self, method: &str, what: &str, body: &Value) -> Value {
        self.browser.session_call(method, &format!("/element/{}{what}", self.id), body)
    }

    /// The text as rendered.
    pub fn text(&self) -> String {
        self.call("GET", "/text", &Value::Null).as_str().unwrap_or_default().to_string()
    }

    pub fn attribute(&self, name: &str) -> Option<String> {
        self.call("GET", &format!("/attribute/{name}"), &Value::Null).as_str().map(str::to_string)
    }

    /// A DOM property (`textContent` reads an SVG `<title>`, which has no rendered text).
    pub fn property(&self, name: &str) -> Option<String> {
        self.call("GET", &format!("/property/{name}"), &Value::Null).as_str().map(str::to_string)
    }

    pub fn type_text(&self, text: &str) {
        self.call("POST", "/value", &json!({ "text": text }));
    }

    /// Empties an input (one the page filled in, e.g. from a `login_hint`).
    pub fn clear(&self) {
        self.call("POST", "/clear", &json!({}));
    }

    pub fn click(&self) {
        self.call("POST", "/click", &json!({}));
    }

    /// Whether the element has left the document (its page was replaced,
    /// e.g. after a click that submitted a form).
    pub fn is_stale(&self) -> bool {
        let path = format!("/session/{}/element/{}/name", self.browser.session, self.id);
        let r = http::get(&self.browser.addr, &path, &[]);
        // "stale element reference", or "no such element" once the id is unknown.
        r.status == 404
    }

    /// Elements inside this one matching the CSS selector.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self.call("POST", "/elements", &json!({"using": "css selector", "value": css}));
        found
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e[ELEMENT].as_str())
                    .map(|id| Element { browser: self.browser, id: id.to_string() })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (and its chromium) without a panic inside a drop.
        if let Ok(mut stream) = std::net::TcpStream::connect(&self.addr) {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.session, self.addr
            );
            let _ = stream.write_all(request.as_bytes());
            // Up to the end of the answer: chromedriver says "Connection: close"
            // but keeps the socket open, so reading to its close waited out the timeout.
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            while !answer_complete(&answer) {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Whether `raw` holds a whole HTTP response with a Content-Length body.
fn answer_complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let length =
        head.lines().find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()));
    length.is_some_and(|n| raw.len() - end - 4 >= n)
}
