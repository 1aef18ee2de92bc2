//! The mail server harness itself, through real protocols only: Postfix's
//! submission with STARTTLS and AUTH against a private CA, its refusals at
//! RCPT, the bounces (DSNs) it makes and delivers over LMTP, and Dovecot's
//! IMAP with STARTTLS.

use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::support::mailserver::{
    BLOCKED, BLOCKLIST_TEXT, HOST, JANE, LEAD_PASSWORD, MailServer, NO_MAILBOX, RELAY_REFUSAL, RELAY_REFUSED, SENDER,
    SENDER_PASSWORD, STRICT_IMAP_HOST, UNKNOWN,
};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn submission_with_starttls_and_auth_delivers_into_the_leads_maildir() {
    let server = MailServer::with_leads(&["sam@globex.test"]);
    let email = server.email(JANE, "Quick question about Acme");
    let reply = server.submit(JANE, &email);
    assert_eq!(reply.code, 250, "{reply:?}\n{}", server.postfix_log());
    let reply = server.submit("sam@globex.test", &server.email("sam@globex.test", "Quick question about Globex"));
    assert_eq!(reply.code, 250, "a lead given to with_leads, in a domain of its own: {reply:?}");

    let inbox = server.wait_for(JANE, "INBOX", 1, WAIT);
    assert_eq!(inbox.len(), 1);
    let got = &inbox[0];
    assert_eq!(got.header("Subject").as_deref(), Some("Quick question about Acme"));
    let sent_id = email.lines().find_map(|l| l.strip_prefix("Message-ID: ")).unwrap();
    assert_eq!(got.header("Message-ID").as_deref(), Some(sent_id));
    // Authenticated and encrypted on the way in, delivered by Dovecot's LMTP.
    assert!(got.raw.contains("with ESMTPSA"), "{}", got.raw);
    assert!(got.raw.contains("with LMTP"), "{}", got.raw);
    assert!(server.messages(SENDER, "INBOX").is_empty());

    let sam = server.wait_for("sam@globex.test", "INBOX", 1, WAIT);
    assert_eq!(sam[0].header("Subject").as_deref(), Some("Quick question about Globex"));
}

#[test]
fn submission_needs_the_private_ca_and_a_login() {
    let server = MailServer::start();
    let hello = ClientId::Domain("client.seller.test".into());
    let connect = || SmtpConnection::connect((HOST, server.submission_port), Some(WAIT), &hello, None, None).unwrap();

    // The system's trust store alone does not know the company's CA.
    let mut conn = connect();
    let err = conn.starttls(&TlsParameters::new(HOST.into()).unwrap(), &hello).unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    // Encrypted but not logged in: Postfix refuses the recipient.
    let mut conn = connect();
    conn.starttls(&server.tls_parameters(), &hello).unwrap();
    assert!(conn.is_encrypted());
    conn.command(lettre::transport::smtp::commands::Mail::new(Some(SENDER.parse().unwrap()), vec![])).unwrap();
    let err = conn.command(lettre::transport::smtp::commands::Rcpt::new(JANE.parse().unwrap(), vec![])).unwrap_err();
    assert!(err.is_permanent() && err.to_string().contains("Access denied"), "{err}");

    // A wrong password is refused by Dovecot's SASL.
    let mut conn = connect();
    conn.starttls(&server.tls_parameters(), &hello).unwrap();
    let creds = lettre::transport::smtp::authentication::Credentials::new(SENDER.into(), "wrong".into());
    let err = conn.auth(&[lettre::transport::smtp::authentication::Mechanism::Plain], &creds).unwrap_err();
    assert_eq!(err.status().map(u16::from), Some(535), "{err}");
}

#[test]
fn an_unknown_address_is_refused_at_rcpt_with_5_1_1() {
    let server = MailServer::start();
    let reply = server.submit(UNKNOWN, &server.email(UNKNOWN, "Hello"));
    assert_eq!(reply.code, 550, "{reply:?}");
    assert!(reply.text.contains("5.1.1") && reply.text.contains(UNKNOWN), "{reply:?}");
}

#[test]
fn a_blocklisted_address_is_refused_at_rcpt_with_5_7_1() {
    let server = MailServer::start();
    let reply = server.submit(BLOCKED, &server.email(BLOCKED, "Hello"));
    assert_eq!(reply.code, 550, "{reply:?}");
    assert!(reply.text.contains("5.7.1") && reply.text.contains(BLOCKLIST_TEXT), "{reply:?}");
}

#[test]
fn a_recipient_dovecot_does_not_know_bounces_into_the_senders_inbox_with_5_1_1() {
    let server = MailServer::start();
    let email = server.email(NO_MAILBOX, "Hello");
    let reply = server.submit(NO_MAILBOX, &email);
    assert_eq!(reply.code, 250, "Postfix accepts it (it is in virtual_mailbox_maps): {reply:?}");

    let inbox = server.wait_for(SENDER, "INBOX", 1, WAIT);
    let dsn = &inbox[0];
    assert_eq!(dsn.header("From").as_deref(), Some("Mail Delivery System <MAILER-DAEMON@seller.test>"));
    assert!(dsn.header("Content-Type").unwrap().contains("report-type=delivery-status"), "{}", dsn.raw);
    let status = dsn.delivery_status().unwrap_or_else(|| panic!("no delivery-status part:\n{}", dsn.raw));
    assert!(status.contains(&format!("Final-Recipient: rfc822; {NO_MAILBOX}")), "{status}");
    assert!(status.contains("Action: failed"), "{status}");
    assert!(status.contains("Status: 5.1.1"), "{status}");
    // Dovecot's LMTP words it so: "550 5.1.1 <gone@acme.test> User doesn't exist: gone@acme.test".
    assert!(status.contains("User doesn't exist"), "{status}");
    // The returned original keeps its Message-ID, which is how a bounce is matched.
    let sent_id = email.lines().find_map(|l| l.strip_prefix("Message-ID: ")).unwrap();
    assert!(dsn.raw.contains(sent_id), "{}", dsn.raw);
}

#[test]
fn a_relay_refusing_at_data_bounces_into_the_senders_inbox_with_5_7_1() {
    let server = MailServer::start();
    let email = server.email(RELAY_REFUSED, "Hello");
    let reply = server.submit(RELAY_REFUSED, &email);
    assert_eq!(reply.code, 250, "Postfix accepts it, then relays it: {reply:?}");

    let inbox = server.wait_for(SENDER, "INBOX", 1, WAIT);
    let status = inbox[0].delivery_status().unwrap_or_else(|| panic!("no delivery-status part:\n{}", inbox[0].raw));
    assert!(status.contains(&format!("Final-Recipient: rfc822; {RELAY_REFUSED}")), "{status}");
    assert!(status.contains("Action: failed"), "{status}");
    assert!(status.contains("Status: 5.7.1"), "{status}");
    let diagnostic = status.split("Diagnostic-Code:").nth(1).unwrap_or_default().split_whitespace().collect::<Vec<_>>();
    assert!(diagnostic.join(" ").contains(RELAY_REFUSAL), "{status}");
    assert!(server.relay().connections() >= 1, "Postfix talked to the relay");
    assert!(server.relay().messages().is_empty());
}

/// Logs in to `host` over IMAP with STARTTLS trusting `roots`; the message
/// count of each of `folders`.
fn imap_counts(
    server: &MailServer,
    host: &str,
    user: &str,
    password: &str,
    roots: rustls::RootCertStore,
    folders: &[&str],
) -> Result<Vec<u32>, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect((host, server.imap_port)).await.map_err(|e| e.to_string())?;
        let mut plain = BufReader::new(tcp);
        let mut greeting = String::new();
        plain.read_line(&mut greeting).await.map_err(|e| e.to_string())?;
        assert!(greeting.contains("STARTTLS"), "{greeting}");
        plain.get_mut().write_all(b"S1 STARTTLS\r\n").await.map_err(|e| e.to_string())?;
        let mut line = String::new();
        while !line.starts_with("S1 ") {
            line.clear();
            if plain.read_line(&mut line).await.map_err(|e| e.to_string())? == 0 {
                return Err("closed during STARTTLS".into());
            }
        }
        assert!(line.starts_with("S1 OK"), "{line}");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from(host.to_string()).unwrap(), plain.into_inner())
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let client = async_imap::Client::new(tls);
        let mut session = client.login(user, password).await.map_err(|(e, _)| format!("login: {e}"))?;
        let mut counts = Vec::new();
        for folder in folders {
            counts.push(session.examine(folder).await.map_err(|e| format!("EXAMINE {folder}: {e}"))?.exists);
        }
        let _ = session.logout().await;
        Ok(counts)
    })
}

#[test]
fn imap_with_starttls_trusts_the_private_ca_and_sees_delivered_mail() {
    let server = MailServer::start();
    server.deliver(SENDER, "INBOX", &server.email(SENDER, "A reply").replace(SENDER, JANE));
    server.deliver(SENDER, "Sent", &server.email(JANE, "What we sent"));
    server.deliver(SENDER, "Sent", &server.email(BLOCKED, "What we sent too"));
    assert_eq!(server.messages(SENDER, "Sent").len(), 2);

    let mut private = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.ca_file()).unwrap() {
        private.add(cert.unwrap()).unwrap();
    }
    let both = ["INBOX", "Sent"];
    assert_eq!(imap_counts(&server, HOST, SENDER, SENDER_PASSWORD, private.clone(), &both), Ok(vec![1, 2]));

    // A lead's own mailbox, filled over LMTP by Postfix.
    assert_eq!(server.submit(JANE, &server.email(JANE, "Hello")).code, 250);
    server.wait_for(JANE, "INBOX", 1, WAIT);
    assert_eq!(imap_counts(&server, HOST, JANE, LEAD_PASSWORD, private.clone(), &["INBOX"]), Ok(vec![1]));

    // Without the private CA, the handshake fails.
    let mut public = rustls::RootCertStore::empty();
    public.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let err = imap_counts(&server, HOST, SENDER, SENDER_PASSWORD, public, &both).unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // Where Dovecot does not count the connection as local, it wants TLS
    // before a login, as for a client elsewhere; with it, the login works.
    let mut plain = std::net::TcpStream::connect((STRICT_IMAP_HOST, server.imap_port)).unwrap();
    let mut reader = std::io::BufReader::new(plain.try_clone().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    assert!(line.contains("LOGINDISABLED"), "{line}");
    std::io::Write::write_all(&mut plain, format!("a LOGIN {SENDER} {SENDER_PASSWORD}\r\n").as_bytes()).unwrap();
    // "* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, ...", then the tagged NO.
    while !line.starts_with("a ") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 0, "connection closed");
    }
    assert!(line.starts_with("a NO"), "{line}");
    let strict = imap_counts(&server, STRICT_IMAP_HOST, SENDER, SENDER_PASSWORD, private.clone(), &both);
    assert_eq!(strict, Ok(vec![1, 2]));

    // The password matters.
    let err = imap_counts(&server, HOST, SENDER, "wrong", private, &both).unwrap_err();
    assert!(err.starts_with("login"), "{err}");
}
