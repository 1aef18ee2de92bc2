//! A small but real SMTP server, the one the tests and the scale benchmark
//! both send to.
//!
//! It listens on `127.0.0.1:<random port>`, speaks enough ESMTP for lettre's
//! `SmtpConnection` (EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET,
//! NOOP, QUIT, several messages per connection, pipelined commands served in
//! order) and counts every message it accepts. Two kinds:
//!
//! - [`SmtpServer::start`]: records every accepted message ([`Received`]) and
//!   can be told to misbehave through [`Fault`] rules (the tests);
//! - [`SmtpServer::sink`]: records nothing and answers as fast as it can,
//!   optionally asking for an immediate TCP ACK before every read (the
//!   benchmark, whose figures must not include the server's delayed ACKs).
//!
//! Replies are buffered and written out before the server waits for more
//! input, so a pipelining client gets them in batches and a lock-step one
//! (lettre) gets each at once. Only `std` is used: one listener thread plus
//! one thread per connection. Nothing a client sends can make the server
//! panic: every I/O error or early disconnect just ends that connection's
//! thread. The protocol is in `session.rs`, reading what a message says in
//! `received.rs`.

mod received;
mod session;

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Longest command or message line the server accepts (a longer one closes
/// the connection).
const MAX_LINE: u64 = 4 * 1024 * 1024;

/// A running SMTP server. Dropping it stops the listener and closes the
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

/// How a server treats what it accepts, fixed when it starts.
#[derive(Clone, Copy)]
struct Options {
    /// Keep every accepted message (else only count it).
    record: bool,
    /// Set TCP_QUICKACK before every read (Linux).
    quickack: bool,
}

struct Shared {
    options: Options,
    state: Mutex<State>,
    arrived: Condvar,
    /// Messages accepted since the start (not reset by `take`).
    accepted: AtomicU64,
    shutdown: AtomicBool,
}

#[derive(Default)]
struct State {
    messages: Vec<Received>,
    faults: Vec<Fault>,
    auth_users: Vec<String>,
    connections: usize,
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
    /// Binds `127.0.0.1:0` and starts serving in background threads,
    /// recording every message it accepts.
    pub fn start() -> SmtpServer {
        SmtpServer::start_on(0)
    }

    /// Listens on `port` (0: any free one), e.g. to come back where a server went away.
    pub fn start_on(port: u16) -> SmtpServer {
        SmtpServer::launch(port, Options { record: true, quickack: false })
    }

    /// A sink: accepts every message at once and only counts it (see
    /// [`count`](Self::count)); `messages()` stays empty. With `quickack` it
    /// acknowledges every TCP segment at once, so that a client that leaves
    /// Nagle's algorithm on is not held up by the server's delayed ACK (40 ms
    /// on Linux, as every ordinary server's).
    pub fn sink(quickack: bool) -> SmtpServer {
        SmtpServer::launch(0, Options { record: false, quickack })
    }

    fn launch(port: u16, options: Options) -> SmtpServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind test SMTP server");
        let addr = listener.local_addr().expect("test SMTP server address");
        let shared = Arc::new(Shared {
            options,
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            accepted: AtomicU64::new(0),
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

    /// Messages accepted since the server started, recorded or not.
    pub fn count(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
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
            // Any error (including the client going away) just ends it.
            let _ = session::run(&for_connection, index, stream);
            for_connection.lock().open.remove(&index);
        });
        if spawned.is_err() {
            // The stream went down with the closure; forget our clone too.
            shared.lock().open.remove(&index);
        }
    }
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
