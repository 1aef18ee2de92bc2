//! The SMTP sink the figures send to, and a pipelining client that measures
//! the sink's own capacity.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// A minimal SMTP server on loopback that accepts every message at once and
/// counts it: std only, a thread per connection, no pipelining advertised
/// (but a pipelining client is served in order, which is how its own
/// capacity is measured).
pub struct Sink {
    pub port: u16,
    messages: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Sink {
    /// The benchmark's sink: it acknowledges every TCP segment at once
    /// (TCP_QUICKACK before each read), so that a client that leaves Nagle's
    /// algorithm on is not held up by the server's delayed ACK.
    pub fn start() -> Sink {
        Sink::start_with(true)
    }

    /// With `quickack` false, the sink's TCP stack delays its ACKs as every
    /// ordinary server's does (40 ms on Linux).
    pub fn start_with(quickack: bool) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
        let port = listener.local_addr().expect("sink address").port();
        let messages = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (Arc::clone(&messages), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let count = Arc::clone(&count);
                std::thread::spawn(move || {
                    let _ = serve(stream, &count, quickack);
                });
            }
        });
        Sink { port, messages, stop }
    }

    /// Messages accepted so far.
    pub fn count(&self) -> u64 {
        self.messages.load(Ordering::SeqCst)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A socket that asks for an immediate ACK before every read (Linux resets
/// TCP_QUICKACK as soon as the connection looks interactive again).
struct QuickAck {
    stream: TcpStream,
    on: bool,
}

impl Read for QuickAck {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.on {
            use std::os::linux::net::TcpStreamExt;
            let _ = self.stream.set_quickack(true);
        }
        self.stream.read(buf)
    }
}

fn serve(stream: TcpStream, count: &AtomicU64, quickack: bool) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(64 * 1024, QuickAck { stream: stream.try_clone()?, on: quickack });
    let mut out = BufWriter::with_capacity(16 * 1024, stream.try_clone()?);
    out.write_all(b"220 sink ESMTP\r\n")?;
    out.flush()?;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let verb = line.get(..4).map(<[u8]>::to_ascii_uppercase).unwrap_or_default();
        match &verb[..] {
            b"EHLO" => out.write_all(b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 104857600\r\n")?,
            b"HELO" => out.write_all(b"250 sink\r\n")?,
            b"MAIL" | b"RCPT" | b"RSET" | b"NOOP" => out.write_all(b"250 OK\r\n")?,
            b"DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                if reader.buffer().is_empty() {
                    out.flush()?;
                }
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line)? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                out.write_all(b"250 queued\r\n")?;
            }
            b"QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                out.flush()?;
                break;
            }
            _ => out.write_all(b"502 not implemented\r\n")?,
        }
        // Answer as soon as nothing more has arrived (a pipelining client gets a batch).
        if reader.buffer().is_empty() {
            out.flush()?;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    Ok(())
}

/// The sink's own capacity: `n` copies of `message` pipelined over one
/// connection (the client never waits for a reply), in messages per second.
pub fn sink_capacity(port: u16, message: &[u8], n: usize) -> f64 {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the sink");
    stream.set_nodelay(true).expect("nodelay");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut greeting = String::new();
    reader.read_line(&mut greeting).expect("greeting");
    let mut one = Vec::new();
    one.extend_from_slice(b"MAIL FROM:<ada@seller.test>\r\nRCPT TO:<jane@acme.test>\r\nDATA\r\n");
    one.extend_from_slice(message);
    if !message.ends_with(b"\r\n") {
        one.extend_from_slice(b"\r\n");
    }
    one.extend_from_slice(b".\r\n");
    let started = Instant::now();
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let mut w = BufWriter::with_capacity(256 * 1024, &mut writer);
        for _ in 0..n {
            w.write_all(&one).expect("pipeline");
        }
        w.write_all(b"QUIT\r\n").expect("quit");
        w.flush().expect("flush");
    });
    let mut queued = 0;
    let mut line = String::new();
    while queued < n {
        line.clear();
        if reader.read_line(&mut line).expect("reply") == 0 {
            break;
        }
        if line.starts_with("250 queued") {
            queued += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    sender.join().expect("sender");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert_eq!(queued, n, "the sink lost messages");
    n as f64 / elapsed
}
