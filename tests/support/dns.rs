//! A real DNS server for tests: Debian's unbound on a free loopback port,
//! with its own config in a temp dir, killed on drop. `scripts/test.sh`
//! installs the `unbound` package when it is missing. Point cadenced at it
//! with [`DnsServer::config_line`] (`dns_servers = ["127.0.0.1:PORT"]`).
//!
//! It serves a standard set of names under `test.` (a static zone: any other
//! name there is NXDOMAIN, nothing goes to the internet). Every mail domain
//! below has MX `10 mx.DOMAIN` (127.0.0.1), SPF `v=spf1 mx ip4:127.0.0.0/8 ~all`,
//! a 2048-bit DKIM key at selectors `s1` and `google`, and DMARC
//! `v=DMARC1; p=reject; rua=mailto:dmarc@DOMAIN; adkim=s; aspf=s`, except
//! for the one thing its name says is different:
//!
//! | name | what it is for |
//! |---|---|
//! | `seller.test` | the projects' sending domain: an MX and its address, nothing more |
//! | `good.test` | everything right (a 2048-bit key split over two TXT strings) |
//! | `spf-two.test` | two `v=spf1` records |
//! | `spf-many.test` | 11 DNS-querying terms (`a:h1.spf-many.test` .. `a:h11`) |
//! | `spf-deep.test` | 12 through an include (`include:_spf.spf-deep.test`: 9 `a:` terms, plus `a mx`) |
//! | `spf-syntax.test` | an SPF record that does not parse (`ip4:192.0.2.300`, `+foo`) |
//! | `dkim1024.test` | the key at `s1` and `google` is 1024-bit |
//! | `dkim512.test` | the key at `s1` and `google` is 512-bit |
//! | `nodkim.test` | no DKIM key at any selector |
//! | `nodmarc.test` | no `_dmarc` record |
//! | `dmarc-two.test` | two DMARC records |
//! | `nullmx.test` | a null MX (`0 .`, RFC 7505) and `v=spf1 -all` |
//! | `nxdomain.test` | does not exist (any undeclared name under `test.` is the same) |
//! | `a-only.test` | an A record (127.0.0.1) and nothing else: mail goes to the A (RFC 5321 §5.1) |
//! | `aaaa-only.test` | an AAAA record (::1) and nothing else |
//! | `txt-only.test` | exists (a TXT record) with no MX, A or AAAA: no mail host |
//! | `mx-noaddr.test` | MX `10 mail.mx-noaddr.test`, a name with no address |
//! | `servfail.test` | SERVFAIL at once for every name in it (its name server's name does not resolve) |
//! | `refused.test` | REFUSED for every name in it |
//! | `slow.test` | the name server of this zone answers (NXDOMAIN) only after [`SLOW_DELAY`], longer than cadenced waits: a timeout, every time it is asked |
//!
//! `slow.test` is the one piece of fault injection: unbound delegates the
//! zone (a stub zone) to a small UDP responder in this file that holds every
//! answer for [`SLOW_DELAY`]; unbound itself cannot be made slow. Unbound
//! waits for it (`unknown-server-time-limit`) and never passes the late
//! NXDOMAIN on in time: a client asking twice times out twice (the DNS
//! self-test checks it), so no test sees "dead" where it expects "unknown".
//!
//! `extra` adds unbound `local-data:` records (given without the keyword), e.g.
//! `"doctor-good.test. MX 10 mx.doctor-good.test."` or a TXT record
//! `"sel._domainkey.x.test. TXT \"v=DKIM1; p=...\""`.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long `slow.test`'s name server holds each answer: longer than
/// cadenced's two tries of 2 s each and its 5 s bound per question.
pub const SLOW_DELAY: Duration = Duration::from_secs(8);

/// A 2048-bit RSA public key (base64 DER), as in a DKIM `p=` tag.
pub const KEY_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAo/0Rp0XIIiQm3rF3III/rIQxj+JNb2s79oWJPgNaOC+os3gjwRXini94IqkvtrmUzr1GQUcqv7zYbNBudjgkaAvdgnq6p/UGnGQmLoEO94JLgE6WwhYfs93lrX+v4BTI9tAHmHfjMHMAqFBUE4nPhQj4TR/47H2TvwLaD2mdCO42sesT2A++/92zRbxpxRz8S3pgWOcpHEnywhzbjmLVNPPUFO/Agvvmzv2gE4ZPFRLO8chAYnfjwNDdpkImNoUbkVqX7px+rTZPrAg2IV/2bi02E8K5sctfjrgKDkNIvcNjWbVmGIes4w74dhyhvt9TVFsjnTwqgyQmnjqjxq/peQIDAQAB";
/// A 1024-bit RSA public key.
pub const KEY_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDcc4FOS8sL2RciFSQyvMNq4wx/ufACrkZzocw8SbxTVWfnBrUApa98hWbqcp5ma0vFJiDZFTYb1Kql1RA5uHi2vXXIrRBVaMzuHK6gGVUBjX7+oK5DqZfevQm53ZMbW2Txv1gRBmPqslxGPKllWFQzmGYnQmsDMAdvMbFxfUS5IQIDAQAB";
/// A 512-bit RSA public key.
pub const KEY_512: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALeMr8GSwLyF5YEPLyxmHjg868PWyIE4iLpKDlBclVCsF2K08HtG2qTqOd2gWVFohdcT864KISmAxhi3jkzrQ0sCAwEAAQ==";

/// The domains with mail records, as listed in the module's table.
pub const MAIL_DOMAINS: &[&str] = &[
    "good.test",
    "spf-two.test",
    "spf-many.test",
    "spf-deep.test",
    "spf-syntax.test",
    "dkim1024.test",
    "dkim512.test",
    "nodkim.test",
    "nodmarc.test",
    "dmarc-two.test",
];

pub struct DnsServer {
    /// Where unbound answers (UDP and TCP).
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Child,
    slow: SlowResponder,
}

#[allow(dead_code)]
impl DnsServer {
    /// Starts unbound serving the standard names plus `extra` local-data
    /// records; waits until it answers.
    pub fn start(extra: &[&str]) -> DnsServer {
        let binary =
            ["/usr/sbin/unbound", "/usr/local/sbin/unbound"].into_iter().find(|p| Path::new(p).exists()).expect(
                "unbound is not installed: run ./scripts/test.sh (it installs unbound), or apt-get install unbound",
            );
        let dir = tempfile::Builder::new().prefix("cadenced-unbound").tempdir().expect("temp dir");
        let slow = SlowResponder::start();
        let port = free_port();
        let mut records = standard_records();
        records.extend(extra.iter().map(|r| (*r).to_string()));
        std::fs::write(dir.path().join("unbound.conf"), config(dir.path(), port, slow.port, &records))
            .expect("write unbound.conf");
        let child = Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(dir.path().join("unbound.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start unbound");
        let server = DnsServer { addr: SocketAddr::from(([127, 0, 0, 1], port)), dir, child, slow };
        // unbound opens its TCP listener with its UDP one, after reading all zones.
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(server.addr).is_err() {
            assert!(Instant::now() < deadline, "unbound did not start: {}", server.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The config line that points cadenced at this server.
    pub fn config_line(&self) -> String {
        format!("dns_servers = [\"{}\"]\n", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.slow.stop.store(true, Ordering::Relaxed);
    }
}

/// A loopback port free for both UDP and TCP.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("probe port");
        let port = udp.local_addr().expect("probe addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn config(dir: &Path, port: u16, slow_port: u16, records: &[String]) -> String {
    let d = dir.display();
    let mut text = format!(
        "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-ip6: no\n  do-daemonize: no\n  username: \"\"\n           chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"\"\n  logfile: \"{d}/unbound.log\"\n  use-syslog: no\n           verbosity: 1\n  num-threads: 1\n  so-reuseport: no\n           # No validator and no root trust anchor: these zones are not signed.\n           module-config: \"iterator\"\n           # The stub zones' name servers are on loopback.\n           do-not-query-localhost: no\n           # Wait for slow.test's responder instead of giving up on it early.\n           unknown-server-time-limit: 20000\n           access-control: 127.0.0.0/8 allow\n           # Our own test. zone replaces unbound's default (static, empty).\n           local-zone: \"test.\" static\n           local-data: \"test. 3600 IN SOA localhost. nobody.invalid. 1 3600 1200 604800 60\"\n           local-data: \"test. 3600 IN NS localhost.\"\n           local-zone: \"servfail.test.\" transparent\n           local-zone: \"slow.test.\" transparent\n           local-zone: \"refused.test.\" refuse\n"
    );
    for record in records {
        text.push_str(&format!("  local-data: '{record}'\n"));
    }
    text.push_str(&format!(
        "remote-control:\n  control-enable: no\n         stub-zone:\n  name: \"servfail.test.\"\n  stub-host: \"ns.nowhere.invalid.\"\n         stub-zone:\n  name: \"slow.test.\"\n  stub-addr: 127.0.0.1@{slow_port}\n"
    ));
    text
}

/// A TXT record's text as character-strings of at most 255 bytes.
pub fn txt(name: &str, text: &str) -> String {
    let parts: Vec<String> =
        text.as_bytes().chunks(255).map(|c| format!("\"{}\"", String::from_utf8_lossy(c))).collect();
    format!("{name}. 300 IN TXT {}", parts.join(" "))
}

fn dkim(name: &str, key: &str) -> String {
    txt(name, &format!("v=DKIM1; k=rsa; p={key}"))
}

/// The records of the names in the module's table.
fn standard_records() -> Vec<String> {
    // The projects' own sending domain (`Project`'s mailbox is ada@seller.test): it exists, as a
    // sender's domain does; the lead preflight asks it to tell a lying resolver from a dead domain.
    let mut r =
        vec!["seller.test. 300 IN MX 10 mx.seller.test.".to_string(), "mx.seller.test. 300 IN A 127.0.0.1".to_string()];
    for domain in MAIL_DOMAINS {
        r.push(format!("{domain}. 300 IN MX 10 mx.{domain}."));
        r.push(format!("mx.{domain}. 300 IN A 127.0.0.1"));
        let spf = match *domain {
            "spf-two.test" => {
                r.push(txt(domain, "v=spf1 ip4:192.0.2.1 -all"));
                "v=spf1 mx ip4:127.0.0.0/8 ~all".to_string()
            }
            "spf-many.test" => {
                let terms: Vec<String> = (1..=11).map(|n| format!("a:h{n}.spf-many.test")).collect();
                format!("v=spf1 {} -all", terms.join(" "))
            }
            "spf-deep.test" => {
                let terms: Vec<String> = (1..=9).map(|n| format!("a:h{n}.spf-many.test")).collect();
                r.push(txt("_spf.spf-deep.test", &format!("v=spf1 {} -all", terms.join(" "))));
                "v=spf1 include:_spf.spf-deep.test a mx -all".to_string()
            }
            "spf-syntax.test" => "v=spf1 ip4:192.0.2.300 +foo -all".to_string(),
            _ => "v=spf1 mx ip4:127.0.0.0/8 ~all".to_string(),
        };
        r.push(txt(domain, &spf));
        let key = match *domain {
            "dkim1024.test" => Some(KEY_1024),
            "dkim512.test" => Some(KEY_512),
            "nodkim.test" => None,
            _ => Some(KEY_2048),
        };
        if let Some(key) = key {
            for selector in ["s1", "google"] {
                r.push(dkim(&format!("{selector}._domainkey.{domain}"), key));
            }
        }
        let dmarc = format!("v=DMARC1; p=reject; rua=mailto:dmarc@{domain}; adkim=s; aspf=s");
        match *domain {
            "nodmarc.test" => {}
            "dmarc-two.test" => {
                r.push(txt(&format!("_dmarc.{domain}"), &dmarc));
                r.push(txt(&format!("_dmarc.{domain}"), "v=DMARC1; p=none"));
            }
            _ => r.push(txt(&format!("_dmarc.{domain}"), &dmarc)),
        }
    }
    for n in 1..=11 {
        r.push(format!("h{n}.spf-many.test. 300 IN A 192.0.2.{n}"));
    }
    r.push("nullmx.test. 300 IN MX 0 .".to_string());
    r.push(txt("nullmx.test", "v=spf1 -all"));
    r.push("a-only.test. 300 IN A 127.0.0.1".to_string());
    r.push("aaaa-only.test. 300 IN AAAA ::1".to_string());
    r.push(txt("txt-only.test", "just text"));
    r.push("mx-noaddr.test. 300 IN MX 10 mail.mx-noaddr.test.".to_string());
    r
}

/// `slow.test`'s name server: answers each UDP query NXDOMAIN after
/// [`SLOW_DELAY`] (each answer on its own thread, so queries do not queue).
struct SlowResponder {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl SlowResponder {
    fn start() -> SlowResponder {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the slow responder");
        socket.set_read_timeout(Some(Duration::from_millis(200))).expect("read timeout");
        let port = socket.local_addr().expect("slow responder addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
                let Some(answer) = nxdomain(&buf[..n]) else { continue };
                let Ok(reply) = socket.try_clone() else { continue };
                let stopped = stopped.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(SLOW_DELAY);
                    if !stopped.load(Ordering::Relaxed) {
                        let _ = reply.send_to(&answer, from);
                    }
                });
            }
        });
        SlowResponder { port, stop }
    }
}

/// An authoritative NXDOMAIN answer to `query` (its header and question
/// echoed), or None when it is not a one-question query.
fn nxdomain(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[4..6] != [0, 1] {
        return None;
    }
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += 1 + usize::from(query[end]);
    }
    let question = query.get(12..end + 5)?;
    let mut answer = Vec::with_capacity(12 + question.len());
    answer.extend_from_slice(&query[0..2]);
    // QR, AA and the query's RD; RCODE 3 (NXDOMAIN).
    answer.push(0x84 | (query[2] & 0x01));
    answer.push(0x03);
    answer.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    answer.extend_from_slice(question);
    Some(answer)
}
