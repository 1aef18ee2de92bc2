//! Figures measured in-process: one tick through the library against the
//! sink, the same messages through a plain lettre loop (the reference), the
//! sink's own capacity, and `forecast`'s query alone.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use cadenced::store::Store;
use cadenced::tick::{Control, Report, Transports};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::population::{Population, due_step, email_of, is_due, lead_of};
use super::smtp::SmtpServer;
use super::workdir::{TICK_CADENCE, Workdir, steps_of};

/// One tick through the library at `now`: only the `tick::run` call is timed.
pub struct TickRun {
    pub seconds: f64,
    /// The checkpoint the daemon makes after the tick, timed apart.
    pub checkpoint: f64,
    pub report: Report,
    /// Messages the sink received during the tick.
    pub received: u64,
}

pub fn library_tick(work: &Workdir, sink: &SmtpServer, now: DateTime<Utc>) -> TickRun {
    let (config, cadences) = work.load();
    let mut store = Store::open(&work.db()).expect("open the database");
    let before = sink.count();
    let started = Instant::now();
    let report = cadenced::tick::run(&mut store, &config, &cadences, &mut Transports::new(), now, &Control::default())
        .expect("tick");
    let seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    store.checkpoint().expect("checkpoint");
    let checkpoint = started.elapsed().as_secs_f64();
    TickRun { seconds, checkpoint, report, received: sink.count() - before }
}

/// The messages a tick at `t0` sends, rendered and built the way the tick
/// does (same templates, same builder), for the plain lettre loop.
pub fn due_messages(work: &Workdir, pop: Population) -> Vec<lettre::Message> {
    let (config, cadences) = work.load();
    let cadence = cadences.get(TICK_CADENCE).expect("followup cadence");
    let from = &config.mailboxes.get("sales").expect("sales mailbox").from;
    let date = Utc::now();
    (0..pop.leads)
        .filter(|i| is_due(pop, *i))
        .enumerate()
        .map(|(n, i)| {
            let (fields, _) = lead_of(i);
            let email = email_of(i);
            let step = steps_of(2)[due_step(i)].0;
            let rendered = cadence.templates.render(step, &email, &fields).expect("render");
            let message_id = cadenced::model::message_id("bench", n as i64 + 1, from.email.domain());
            // The same headers the product's emails carry.
            let unsubscribe =
                format!("<mailto:ada+unsubscribe-{n}-0123456789abcdef0123@seller.test?subject=unsubscribe>");
            let subject = rendered.subject.unwrap_or_default();
            cadenced::send::build(&cadenced::send::Email {
                from,
                to: &email,
                subject: &subject,
                body: &rendered.body,
                message_id: &message_id,
                date,
                reply: None,
                list_unsubscribe: Some(&unsubscribe),
                step_tag: Some("0123456789abcdef"),
            })
            .expect("build")
        })
        .collect()
}

/// The reference for send throughput: a plain loop of lettre's
/// `SmtpConnection::send` over one connection (connect and QUIT included),
/// in messages per second.
pub fn lettre_loop(port: u16, messages: &[lettre::Message]) -> f64 {
    use lettre::transport::smtp::client::SmtpConnection;
    use lettre::transport::smtp::extension::ClientId;
    let hello = ClientId::Domain("seller.test".into());
    let started = Instant::now();
    let mut conn = SmtpConnection::connect(("127.0.0.1", port), Some(Duration::from_secs(60)), &hello, None, None)
        .expect("connect to the sink");
    for m in messages {
        conn.send(m.envelope(), &m.formatted()).expect("lettre send");
    }
    conn.quit().expect("quit");
    messages.len() as f64 / started.elapsed().as_secs_f64()
}

/// The rows `forecast` reads, read and nothing else (its query, streamed):
/// how much of `forecast` is reading rather than planning. Seconds.
pub fn forecast_read_only(db: &Path) -> (f64, u64) {
    let started = Instant::now();
    let conn = Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare(
            "SELECT e.cadence, e.step, e.next_due_at, l.timezone, l.fields
             FROM enrollments e JOIN leads l ON l.id = e.lead_id
             WHERE e.state = 'active' AND e.next_due_at IS NOT NULL",
        )
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let mut n = 0u64;
    let mut bytes = 0usize;
    while let Some(r) = rows.next().expect("row") {
        let cadence: String = r.get(0).expect("cadence");
        let fields: String = r.get(4).expect("fields");
        bytes += cadence.len() + fields.len();
        n += 1;
    }
    assert!(bytes > 0 || n == 0);
    (started.elapsed().as_secs_f64(), n)
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
        if line.starts_with("250 2.0.0 Ok: queued") {
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
