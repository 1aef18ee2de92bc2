//! A small HTTP/1.1 client over a plain TCP socket, for the daemon's HTTP
//! side and for WebDriver: every request on a new connection, read to its
//! end. Raw on purpose, so that a test can send exactly what it wants (an
//! oversized body, no token, a forged cookie).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[allow(dead_code)]
impl Response {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `METHOD path` on `addr` (`127.0.0.1:PORT`) with `headers` and `body`.
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("read timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write the request head");
    // The body is written beside the read: a server may answer (413) before taking all of it.
    let mut writer = stream.try_clone().expect("clone the socket");
    let body = body.to_vec();
    let sending = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    // To its end: the close, or as much as Content-Length (or the last chunk) says,
    // as a server may keep the connection open whatever the request asked.
    while !complete(&raw) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A reset after the answer came (the server did not read the rest of the body).
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{method} {path}: reading the response: {e}"),
        }
    }
    let _ = sending.join();
    parse(&raw).unwrap_or_else(|| panic!("{method} {path}: not an HTTP response: {:?}", String::from_utf8_lossy(&raw)))
}

/// Whether `raw` holds a whole response.
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let body = &raw[end + 4..];
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    let length =
        head.lines().find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()));
    length.is_some_and(|n| body.len() >= n)
}

fn parse(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_string(), v.trim().to_string())).collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked =
        headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = unchunk(&body)?;
    }
    Some(Response { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn unchunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[allow(dead_code)]
pub fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    request(addr, "GET", path, headers, b"")
}

#[allow(dead_code)]
pub fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    request(addr, "POST", path, headers, body)
}

/// The admin token the tests' daemons use.
#[allow(dead_code)]
pub const TOKEN: &str = "test-admin-token-0123456789abcdef";

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
    probe.local_addr().expect("probe addr").port()
}

/// The `[http]` table for `project` on a free port, with the admin token in
/// a private file; returns the table and the address it listens on.
#[allow(dead_code)]
pub fn http_config(project: &super::Project) -> (String, String) {
    use std::os::unix::fs::PermissionsExt;
    project.write("admin.token", &format!("{TOKEN}\n"));
    std::fs::set_permissions(project.path("admin.token"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let addr = format!("127.0.0.1:{}", free_port());
    let table = format!(
        "\n[http]\nlisten = \"{addr}\"\npublic_url = \"https://go.example.test/\"\ntoken_file = \"admin.token\"\n"
    );
    (table, addr)
}

/// `cadenced run` with its HTTP side up.
#[allow(dead_code)]
pub struct Served {
    pub child: std::process::Child,
    pub addr: String,
}

#[allow(dead_code)]
impl Served {
    /// Starts the daemon of `project` (whose config has the `[http]` table
    /// of [`http_config`] at `addr`) and waits until it answers.
    pub fn start(project: &super::Project, addr: &str) -> Served {
        let child = project.spawn_daemon(&[("CADENCED_LOG", "info")]);
        let served = Served { child, addr: addr.to_string() };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "the daemon's HTTP side did not come up on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        served
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        get(&self.addr, path, headers)
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        post(&self.addr, path, headers, body)
    }

    /// Waits (up to 30 s) until `/healthz` answers `status`.
    pub fn wait_health(&self, status: u16) -> Response {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.get("/healthz", &[]);
            if r.status == status {
                return r;
            }
            assert!(std::time::Instant::now() < deadline, "/healthz stayed {}: {}", r.status, r.body);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then its log (stderr); it must exit 0.
    pub fn stop(mut self) -> String {
        super::signal(self.child.id(), "TERM");
        let out = std::mem::replace(&mut self.child, std::process::Command::new("true").spawn().expect("true"))
            .wait_with_output()
            .expect("wait for the daemon");
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "the daemon exited {:?}:\n{log}", out.status);
        log
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
