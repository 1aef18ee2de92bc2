//! One connection's SMTP dialogue: commands in, replies out (buffered until
//! the server waits for input), faults applied, accepted messages counted
//! and, when the server records, kept.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;

use super::{Fault, MAX_LINE, Received, Shared, decode_base64};

/// Serves one connection until QUIT, a fault that closes it, or an I/O error
/// (the client going away included).
pub(super) fn run(shared: &Shared, connection: usize, stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let socket = Socket { stream: stream.try_clone()?, quickack: shared.options.quickack };
    let mut session = Session {
        shared,
        connection,
        reader: BufReader::with_capacity(64 * 1024, socket),
        writer: BufWriter::with_capacity(16 * 1024, stream),
        line: Vec::with_capacity(1024),
        mail_from: None,
        rcpt_to: Vec::new(),
        authenticated: false,
    };
    session.send("220 localhost ESMTP test")?;
    loop {
        let line = session.read_text_line()?;
        if let Flow::Close = session.command(&line)? {
            session.writer.flush()?;
            let _ = session.writer.get_ref().shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

/// The reading half of a connection: asks for an immediate ACK before every
/// read when told to (Linux resets TCP_QUICKACK as soon as the connection
/// looks interactive again, so once is not enough).
struct Socket {
    stream: TcpStream,
    quickack: bool,
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if self.quickack {
            use std::os::linux::net::TcpStreamExt;
            let _ = self.stream.set_quickack(true);
        }
        self.stream.read(buf)
    }
}

enum Flow {
    Continue,
    Close,
}

enum Outcome {
    /// Accepted as message number n; with `true` the connection then closes.
    Accept(u64, bool),
    Reject(String),
    Drop,
}

struct Session<'a> {
    shared: &'a Shared,
    connection: usize,
    reader: BufReader<Socket>,
    writer: BufWriter<TcpStream>,
    /// The line being read (reused: the sink reads millions).
    line: Vec<u8>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    authenticated: bool,
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
    /// Queues one reply (lines separated by CRLF inside `text`) plus CRLF;
    /// it goes out before the server next waits for input.
    fn send(&mut self, text: &str) -> io::Result<()> {
        self.writer.write_all(text.as_bytes())?;
        self.writer.write_all(b"\r\n")
    }

    /// Reads one line into `self.line`, without its CRLF (or bare LF). The
    /// replies queued so far are written first unless more input is already
    /// buffered (a pipelining client). End of stream, also in the middle of a
    /// line, is an `UnexpectedEof` error.
    fn read_line(&mut self) -> io::Result<()> {
        if self.reader.buffer().is_empty() {
            self.writer.flush()?;
        }
        self.line.clear();
        let n = self.reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut self.line)?;
        if self.line.last() != Some(&b'\n') {
            let kind = if n as u64 >= MAX_LINE { io::ErrorKind::InvalidData } else { io::ErrorKind::UnexpectedEof };
            return Err(io::Error::new(kind, "connection ended or line too long"));
        }
        self.line.pop();
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(())
    }

    fn read_text_line(&mut self) -> io::Result<String> {
        self.read_line()?;
        Ok(String::from_utf8_lossy(&self.line).into_owned())
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    fn command(&mut self, line: &str) -> io::Result<Flow> {
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb, arg.trim()),
            None => (line.trim(), ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                self.reset();
                self.send("250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN")?;
            }
            "HELO" => {
                self.reset();
                self.send("250 localhost")?;
            }
            "AUTH" => self.auth(arg)?,
            "MAIL" => self.mail(arg)?,
            "RCPT" => self.rcpt(arg)?,
            "DATA" => return self.data(),
            "RSET" => {
                self.reset();
                self.send("250 2.0.0 Ok")?;
            }
            "NOOP" => self.send("250 2.0.0 Ok")?,
            "QUIT" => {
                self.send("221 2.0.0 Bye")?;
                return Ok(Flow::Close);
            }
            _ => self.send("502 5.5.2 Error: command not recognized")?,
        }
        Ok(Flow::Continue)
    }

    fn auth(&mut self, arg: &str) -> io::Result<()> {
        if self.authenticated {
            return self.send("503 5.5.1 Error: already authenticated");
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
                        self.send("334 ")?;
                        self.read_text_line()?
                    }
                };
                if response == "*" {
                    return self.send("501 5.7.0 Authentication cancelled");
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
                        self.send("334 VXNlcm5hbWU6")?; // "Username:"
                        self.read_text_line()?
                    }
                };
                if user == "*" {
                    return self.send("501 5.7.0 Authentication cancelled");
                }
                self.send("334 UGFzc3dvcmQ6")?; // "Password:"
                let password = self.read_text_line()?;
                if password == "*" {
                    return self.send("501 5.7.0 Authentication cancelled");
                }
                decode_base64(&user).map(|raw| String::from_utf8_lossy(&raw).into_owned())
            }
            "" => return self.send("501 5.5.4 Syntax: AUTH mechanism"),
            _ => return self.send("504 5.5.4 Unrecognized authentication type"),
        };
        match user {
            Some(user) => {
                self.authenticated = true;
                self.shared.lock().auth_users.push(user);
                self.send("235 2.7.0 ok")
            }
            None => self.send("501 5.5.2 Cannot decode response"),
        }
    }

    fn mail(&mut self, arg: &str) -> io::Result<()> {
        if self.mail_from.is_some() {
            return self.send("503 5.5.1 Error: nested MAIL command");
        }
        match parse_path(arg, "FROM:") {
            Some(from) => {
                self.mail_from = Some(from);
                self.rcpt_to.clear();
                self.send("250 2.1.0 Ok")
            }
            None => self.send("501 5.5.4 Syntax: MAIL FROM:<address>"),
        }
    }

    fn rcpt(&mut self, arg: &str) -> io::Result<()> {
        if self.mail_from.is_none() {
            return self.send("503 5.5.1 Error: need MAIL command");
        }
        let Some(to) = parse_path(arg, "TO:") else {
            return self.send("501 5.5.4 Syntax: RCPT TO:<address>");
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
            Some(reply) => self.send(&reply),
            None => {
                self.rcpt_to.push(to);
                self.send("250 2.1.5 Ok")
            }
        }
    }

    /// The message after `DATA`, up to the lone dot: dot-unstuffed, every
    /// line ended by CRLF; kept only when the server records.
    fn read_message(&mut self) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        loop {
            self.read_line()?;
            if self.line == b"." {
                return Ok(data);
            }
            if self.shared.options.record {
                let unstuffed = self.line.strip_prefix(b".").unwrap_or(&self.line);
                data.extend_from_slice(unstuffed);
                data.extend_from_slice(b"\r\n");
            }
        }
    }

    fn data(&mut self) -> io::Result<Flow> {
        let Some(mail_from) = self.mail_from.clone() else {
            self.send("503 5.5.1 Error: need MAIL command")?;
            return Ok(Flow::Continue);
        };
        if self.rcpt_to.is_empty() {
            self.send("503 5.5.1 Error: need RCPT command")?;
            return Ok(Flow::Continue);
        }
        self.send("354 End data with <CR><LF>.<CR><LF>")?;
        let data = self.read_message()?;
        let rcpt_to = std::mem::take(&mut self.rcpt_to);
        self.reset();
        let slow = self.shared.lock().faults.iter().find_map(|fault| match fault {
            Fault::Slow { millis } => Some(*millis),
            _ => None,
        });
        if let Some(millis) = slow {
            std::thread::sleep(std::time::Duration::from_millis(millis));
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
                let n = self.shared.accepted.fetch_add(1, Ordering::SeqCst) + 1;
                // Only recorded messages are waited for (`wait_for`); a sink spares the wake-up.
                if self.shared.options.record {
                    state.messages.push(Received {
                        mail_from,
                        rcpt_to,
                        data: String::from_utf8_lossy(&data).into_owned(),
                        connection: self.connection,
                    });
                    self.shared.arrived.notify_all();
                }
                Outcome::Accept(n, close)
            })
        };
        match outcome {
            Outcome::Accept(n, close) => {
                self.send(&format!("250 2.0.0 Ok: queued as {n}"))?;
                if close {
                    return Ok(Flow::Close);
                }
            }
            Outcome::Reject(reply) => self.send(&reply)?,
            // The reply to this message never goes out.
            Outcome::Drop => return Ok(Flow::Close),
        }
        Ok(Flow::Continue)
    }
}
