//! A small but real SMTP server for integration tests.
//!
//! It listens on `127.0.0.1:<random port>`, speaks enough ESMTP for lettre's
//! `SmtpConnection` (EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET,
//! NOOP, QUIT, several messages per connection), records every accepted
//! message and can be told to misbehave through [`Fault`] rules.
//!
//! Only `std` is used: one listener thread plus one thread per connection.
//! Nothing a client sends can make the server panic: every I/O error or
//! early disconnect just ends that connection's thread.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Longest command or message line the server accepts (a longer one closes
/// the connection).
const MAX_LINE: u64 = 4 * 1024 * 1024;

/// A running test SMTP server. Dropping it stops the listener and closes the
/// connections that are still open.
#[allow(dead_code)]
pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

/// One message the server accepted.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Received {
    /// Reverse path of `MAIL FROM:<...>` without the angle brackets (empty for `<>`).
    pub mail_from: String,
    /// Forward paths of the accepted `RCPT TO:<...>` commands, in order.
    pub rcpt_to: Vec<String>,
    /// Message bytes after dot-unstuffing, every line ended by CRLF (a bare
    /// LF from the client is stored as CRLF), without the final ".\r\n".
    pub data: String,
    /// Index of the TCP connection it came on, from 0.
    pub connection: usize,
}

/// A rule for how the server answers. Rules are checked in order on each
/// RCPT TO and at the end of DATA; the first one that applies wins.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer `RCPT TO` with `code text` when the address contains
    /// `address_contains` (ASCII case-insensitive), e.g. 550 "5.1.1 no such user".
    RejectRcpt { address_contains: String, code: u16, text: String },
    /// Answer the end of DATA with `code text` for the next `times` messages
    /// (counts down), then accept again. Rejected messages are not recorded.
    RejectData { times: usize, code: u16, text: String },
    /// Read the whole message, then close the socket without replying, for
    /// the next `times` messages (counts down). The message is not recorded.
    DropAfterData { times: usize },
    /// Accept the message, then close the connection, as a server does with
    /// an idle client, for the next `times` messages (counts down).
    CloseAfterAccept { times: usize },
    /// Wait `millis` before answering the end of DATA, for every message (a
    /// slow server); the other rules then decide the answer.
    Slow { millis: u64 },
}

struct Shared {
    state: Mutex<State>,
    arrived: Condvar,
    shutdown: AtomicBool,
}

#[derive(Default)]
struct State {
    messages: Vec<Received>,
    faults: Vec<Fault>,
    auth_users: Vec<String>,
    connections: usize,
    accepted_total: usize,
    /// Clones of the sockets still being served, so `Drop` can close them.
    open: HashMap<usize, TcpStream>,
}

impl Shared {
    /// Locks the state; a poisoned lock is still usable (the state is only
    /// ever changed in small, complete steps).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[allow(dead_code)]
impl SmtpServer {
    /// Binds `127.0.0.1:0` and starts serving in background threads.
    pub fn start() -> SmtpServer {
        SmtpServer::start_on(0)
    }

    /// Listens on `port` (0: any free one), e.g. to come back where a server went away.
    pub fn start_on(port: u16) -> SmtpServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind test SMTP server");
        let addr = listener.local_addr().expect("test SMTP server address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let for_listener = Arc::clone(&shared);
        let handle = thread::Builder::new()
            .name("smtp-test-listener".into())
            .spawn(move || accept_loop(listener, for_listener))
            .expect("spawn test SMTP listener thread");
        SmtpServer { addr, shared, listener: Some(handle) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `smtp://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port())
    }

    /// Replaces the fault rules; effective from the next command on.
    pub fn set_faults(&self, faults: Vec<Fault>) {
        self.shared.lock().faults = faults;
    }

    /// Accepted messages, in order of acceptance.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.lock().messages.clone()
    }

    /// Returns the accepted messages and forgets them.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut self.shared.lock().messages)
    }

    /// Number of TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// User names of the successful AUTH exchanges, in order.
    pub fn auth_users(&self) -> Vec<String> {
        self.shared.lock().auth_users.clone()
    }

    /// Blocks until at least `n` messages are held (counting from the last
    /// `take()`) or `timeout` has passed, then returns `messages()`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let guard = self.shared.lock();
        let (guard, _timed_out) = self
            .shared
            .arrived
            .wait_timeout_while(guard, timeout, |state| state.messages.len() < n)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.messages.clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the listener sees the flag.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if let Some(handle) = self.listener.take()
            && woke
        {
            let _ = handle.join();
        }
        let open: Vec<TcpStream> = self.shared.lock().open.drain().map(|(_, s)| s).collect();
        for stream in open {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

#[allow(dead_code)]
impl Received {
    /// First header field called `name` (ASCII case-insensitive), unfolded,
    /// with its value trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = split_message(&self.data);
        unfold_headers(head).into_iter().find_map(|field| {
            let (field_name, value) = field.split_once(':')?;
            field_name.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        })
    }

    /// `header("Message-ID")`, angle brackets included as sent.
    pub fn message_id(&self) -> Option<String> {
        self.header("Message-ID")
    }

    /// Text after the first empty line, without the line break that ends the
    /// last line. A single-part body with `Content-Transfer-Encoding:
    /// quoted-printable` or `base64` is decoded (as UTF-8, lossily).
    pub fn body(&self) -> String {
        let (_, body) = split_message(&self.data);
        let body = body.strip_suffix("\r\n").or_else(|| body.strip_suffix('\n')).unwrap_or(body);
        let multipart = self.header("Content-Type").is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/"));
        if multipart {
            return body.to_string();
        }
        let encoding = self.header("Content-Transfer-Encoding").map(|v| v.to_ascii_lowercase());
        match encoding.as_deref() {
            Some("quoted-printable") => String::from_utf8_lossy(&decode_quoted_printable(body)).into_owned(),
            Some("base64") => match decode_base64(body) {
                Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                None => body.to_string(),
            },
            _ => body.to_string(),
        }
    }
}

/// Splits a message at its first empty line: (header section, body).
fn split_message(data: &str) -> (&str, &str) {
    let mut pos = 0;
    for line in data.split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        let content = content.strip_suffix('\r').unwrap_or(content);
        if content.is_empty() {
            return (&data[..pos], &data[pos + line.len()..]);
        }
        pos += line.len();
    }
    (data, "")
}

/// Header fields with folded continuation lines joined to their field.
fn unfold_headers(head: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t'])
            && let Some(last) = fields.last_mut()
        {
            last.push_str(line);
            continue;
        }
        fields.push(line.to_string());
    }
    fields
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 2045 quoted-printable; a malformed `=` sequence is kept literally.
fn decode_quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let lines: Vec<&str> = text.split('\n').collect();
    for (i, raw) in lines.iter().enumerate() {
        let had_cr = raw.ends_with('\r');
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let bytes = line.trim_end_matches([' ', '\t']).as_bytes();
        let mut soft_break = false;
        let mut j = 0;
        while j < bytes.len() {
            if bytes[j] != b'=' {
                out.push(bytes[j]);
                j += 1;
                continue;
            }
            if j + 1 == bytes.len() {
                soft_break = true;
                break;
            }
            let high = bytes.get(j + 1).copied().and_then(hex_value);
            let low = bytes.get(j + 2).copied().and_then(hex_value);
            match (high, low) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    j += 3;
                }
                _ => {
                    out.push(b'=');
                    j += 1;
                }
            }
        }
        if i + 1 < lines.len() && !soft_break {
            if had_cr {
                out.push(b'\r');
            }
            out.push(b'\n');
        }
    }
    out
}

/// Standard base64, whitespace ignored; `None` if it is not valid base64.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut count = 0usize;
    let mut padding = false;
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding = true;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        if padding {
            return None;
        }
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        count += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if count % 4 == 1 {
        return None;
    }
    Some(out)
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let stream = match incoming {
            Ok(stream) => stream,
            Err(_) => {
                // e.g. out of file descriptors: back off instead of spinning.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let index = {
            let mut state = shared.lock();
            let index = state.connections;
            state.connections += 1;
            if let Ok(clone) = stream.try_clone() {
                state.open.insert(index, clone);
            }
            index
        };
        let for_connection = Arc::clone(&shared);
        let spawned = thread::Builder::new().name(format!("smtp-test-conn-{index}")).spawn(move || {
            let session = Session {
                shared: &for_connection,
                connection: index,
                mail_from: None,
                rcpt_to: Vec::new(),
                authenticated: false,
            };
            // Any error (including the client going away) just ends it.
            let _ = session.run(stream);
            for_connection.lock().open.remove(&index);
        });
        if spawned.is_err() {
            // The stream went down with the closure; forget our clone too.
            shared.lock().open.remove(&index);
        }
    }
}

enum Flow {
    Continue,
    Close,
}

enum Outcome {
    /// Accepted as message number n; with `true` the connection then closes.
    Accept(usize, bool),
    Reject(String),
    Drop,
}

struct Session<'a> {
    shared: &'a Shared,
    connection: usize,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    authenticated: bool,
}

type Conn = BufReader<TcpStream>;

/// Writes one reply (lines separated by CRLF inside `text`) plus CRLF.
fn send(conn: &mut Conn, text: &str) -> io::Result<()> {
    let stream = conn.get_mut();
    stream.write_all(format!("{text}\r\n").as_bytes())?;
    stream.flush()
}

/// Reads one line without its CRLF (or bare LF). End of stream, also in the
/// middle of a line, is an `UnexpectedEof` error.
fn read_line(conn: &mut Conn) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let n = conn.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if buf.last() != Some(&b'\n') {
        let kind = if n as u64 >= MAX_LINE { io::ErrorKind::InvalidData } else { io::ErrorKind::UnexpectedEof };
        return Err(io::Error::new(kind, "connection ended or line too long"));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(buf)
}

fn read_text_line(conn: &mut Conn) -> io::Result<String> {
    Ok(String::from_utf8_lossy(&read_line(conn)?).into_owned())
}

/// `FROM:<addr> PARAMS` / `TO:<addr> PARAMS` -> `addr`.
fn parse_path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg.get(keyword.len()..)?.trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some(inner[..end].to_string())
    } else {
        rest.split_whitespace().next().map(str::to_string)
    }
}

fn reply_line(code: u16, text: &str) -> String {
    format!("{code} {}", text.replace(['\r', '\n'], " "))
}

impl Session<'_> {
    fn run(mut self, stream: TcpStream) -> io::Result<()> {
        let mut conn = BufReader::new(stream);
        send(&mut conn, "220 localhost ESMTP test")?;
        loop {
            let line = read_text_line(&mut conn)?;
            if let Flow::Close = self.command(&mut conn, &line)? {
                let _ = conn.get_ref().shutdown(Shutdown::Both);
                return Ok(());
            }
        }
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    fn command(&mut self, conn: &mut Conn, line: &str) -> io::Result<Flow> {
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb, arg.trim()),
            None => (line.trim(), ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                self.reset();
                send(conn, "250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN")?;
            }
            "HELO" => {
                self.reset();
                send(conn, "250 localhost")?;
            }
            "AUTH" => self.auth(conn, arg)?,
            "MAIL" => self.mail(conn, arg)?,
            "RCPT" => self.rcpt(conn, arg)?,
            "DATA" => return self.data(conn),
            "RSET" => {
                self.reset();
                send(conn, "250 2.0.0 Ok")?;
            }
            "NOOP" => send(conn, "250 2.0.0 Ok")?,
            "QUIT" => {
                send(conn, "221 2.0.0 Bye")?;
                return Ok(Flow::Close);
            }
            _ => send(conn, "502 5.5.2 Error: command not recognized")?,
        }
        Ok(Flow::Continue)
    }

    fn auth(&mut self, conn: &mut Conn, arg: &str) -> io::Result<()> {
        if self.authenticated {
            return send(conn, "503 5.5.1 Error: already authenticated");
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((mechanism, initial)) => (mechanism, Some(initial.trim().to_string())),
            None => (arg, None),
        };
        let user = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(response) => response,
                    None => {
                        send(conn, "334 ")?;
                        read_text_line(conn)?
                    }
                };
                if response == "*" {
                    return send(conn, "501 5.7.0 Authentication cancelled");
                }
                let response = if response == "=" { "" } else { &response };
                // authzid NUL authcid NUL passwd
                decode_base64(response).and_then(|raw| {
                    let parts: Vec<&[u8]> = raw.split(|&b| b == 0).collect();
                    (parts.len() == 3).then(|| String::from_utf8_lossy(parts[1]).into_owned())
                })
            }
            "LOGIN" => {
                let user = match initial {
                    Some(user) => user,
                    None => {
                        send(conn, "334 VXNlcm5hbWU6")?; // "Username:"
                        read_text_line(conn)?
                    }
                };
                if user == "*" {
                    return send(conn, "501 5.7.0 Authentication cancelled");
                }
                send(conn, "334 UGFzc3dvcmQ6")?; // "Password:"
                let password = read_text_line(conn)?;
                if password == "*" {
                    return send(conn, "501 5.7.0 Authentication cancelled");
                }
                decode_base64(&user).map(|raw| String::from_utf8_lossy(&raw).into_owned())
            }
            "" => return send(conn, "501 5.5.4 Syntax: AUTH mechanism"),
            _ => return send(conn, "504 5.5.4 Unrecognized authentication type"),
        };
        match user {
            Some(user) => {
                self.authenticated = true;
                self.shared.lock().auth_users.push(user);
                send(conn, "235 2.7.0 ok")
            }
            None => send(conn, "501 5.5.2 Cannot decode response"),
        }
    }

    fn mail(&mut self, conn: &mut Conn, arg: &str) -> io::Result<()> {
        if self.mail_from.is_some() {
            return send(conn, "503 5.5.1 Error: nested MAIL command");
        }
        match parse_path(arg, "FROM:") {
            Some(from) => {
                self.mail_from = Some(from);
                self.rcpt_to.clear();
                send(conn, "250 2.1.0 Ok")
            }
            None => send(conn, "501 5.5.4 Syntax: MAIL FROM:<address>"),
        }
    }

    fn rcpt(&mut self, conn: &mut Conn, arg: &str) -> io::Result<()> {
        if self.mail_from.is_none() {
            return send(conn, "503 5.5.1 Error: need MAIL command");
        }
        let Some(to) = parse_path(arg, "TO:") else {
            return send(conn, "501 5.5.4 Syntax: RCPT TO:<address>");
        };
        let rejection = self.shared.lock().faults.iter().find_map(|fault| match fault {
            Fault::RejectRcpt { address_contains, code, text }
                if to.to_ascii_lowercase().contains(&address_contains.to_ascii_lowercase()) =>
            {
                Some(reply_line(*code, text))
            }
            _ => None,
        });
        match rejection {
            Some(reply) => send(conn, &reply),
            None => {
                self.rcpt_to.push(to);
                send(conn, "250 2.1.5 Ok")
            }
        }
    }

    fn data(&mut self, conn: &mut Conn) -> io::Result<Flow> {
        let Some(mail_from) = self.mail_from.clone() else {
            send(conn, "503 5.5.1 Error: need MAIL command")?;
            return Ok(Flow::Continue);
        };
        if self.rcpt_to.is_empty() {
            send(conn, "503 5.5.1 Error: need RCPT command")?;
            return Ok(Flow::Continue);
        }
        send(conn, "354 End data with <CR><LF>.<CR><LF>")?;
        let mut data = Vec::new();
        loop {
            let line = read_line(conn)?;
            if line == b"." {
                break;
            }
            let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
            data.extend_from_slice(unstuffed);
            data.extend_from_slice(b"\r\n");
        }
        let rcpt_to = std::mem::take(&mut self.rcpt_to);
        self.reset();
        let slow = self.shared.lock().faults.iter().find_map(|fault| match fault {
            Fault::Slow { millis } => Some(*millis),
            _ => None,
        });
        if let Some(millis) = slow {
            thread::sleep(Duration::from_millis(millis));
        }

        let outcome = {
            let mut guard = self.shared.lock();
            let state = &mut *guard;
            let mut outcome = None;
            for fault in state.faults.iter_mut() {
                match fault {
                    Fault::RejectData { times, code, text } if *times > 0 => {
                        *times -= 1;
                        outcome = Some(Outcome::Reject(reply_line(*code, text)));
                        break;
                    }
                    Fault::DropAfterData { times } if *times > 0 => {
                        *times -= 1;
                        outcome = Some(Outcome::Drop);
                        break;
                    }
                    _ => {}
                }
            }
            let close = outcome.is_none()
                && state.faults.iter_mut().any(|fault| match fault {
                    Fault::CloseAfterAccept { times } if *times > 0 => {
                        *times -= 1;
                        true
                    }
                    _ => false,
                });
            outcome.unwrap_or_else(|| {
                state.accepted_total += 1;
                state.messages.push(Received {
                    mail_from,
                    rcpt_to,
                    data: String::from_utf8_lossy(&data).into_owned(),
                    connection: self.connection,
                });
                self.shared.arrived.notify_all();
                Outcome::Accept(state.accepted_total, close)
            })
        };
        match outcome {
            Outcome::Accept(n, true) => {
                send(conn, &format!("250 2.0.0 Ok: queued as {n}"))?;
                return Ok(Flow::Close);
            }
            Outcome::Accept(n, false) => send(conn, &format!("250 2.0.0 Ok: queued as {n}"))?,
            Outcome::Reject(reply) => send(conn, &reply)?,
            Outcome::Drop => return Ok(Flow::Close),
        }
        Ok(Flow::Continue)
    }
}
