//! A private certificate authority for tests, made with the `openssl` command
//! (as a company does for its own mail server): a CA certificate and one
//! server certificate it signed, for `localhost`, `mail.test`,
//! 127.0.0.1 and 127.0.0.2.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The CA and the server certificate, as PEM files in a folder of the test's.
#[allow(dead_code)]
pub struct TestCa {
    /// The CA certificate (what a client is told to trust: `tls_ca_file`).
    pub ca_pem: PathBuf,
    /// The server certificate, signed by the CA.
    pub cert_pem: PathBuf,
    /// The server certificate's private key (unencrypted, 0600).
    pub key_pem: PathBuf,
}

#[allow(dead_code)]
impl TestCa {
    /// Subject alternative names of the server certificate.
    pub const SERVER_NAMES: &str = "DNS:localhost,DNS:mail.test,IP:127.0.0.1,IP:127.0.0.2";

    /// Makes a new CA and server certificate (P-256 keys, valid 30 days) in `dir`.
    pub fn create(dir: &Path) -> TestCa {
        std::fs::create_dir_all(dir).expect("mkdir for the test CA");
        let ca =
            TestCa { ca_pem: dir.join("ca.pem"), cert_pem: dir.join("server.pem"), key_pem: dir.join("server.key") };
        let ca_key = dir.join("ca.key");
        let p = |p: &Path| p.display().to_string();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/O=cadenced tests/CN=cadenced test CA",
            "-keyout",
            &p(&ca_key),
            "-out",
            &p(&ca.ca_pem),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        // `req -x509 -CA` (OpenSSL 3) signs the new key's certificate with the CA at once.
        let names = format!("subjectAltName={}", TestCa::SERVER_NAMES);
        openssl(&[
            "req",
            "-x509",
            "-CA",
            &p(&ca.ca_pem),
            "-CAkey",
            &p(&ca_key),
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/O=cadenced tests/CN=mail.test",
            "-keyout",
            &p(&ca.key_pem),
            "-out",
            &p(&ca.cert_pem),
            "-addext",
            &names,
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "keyUsage=critical,digitalSignature",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ]);
        ca
    }

    /// The CA certificate's PEM text.
    pub fn ca_text(&self) -> String {
        std::fs::read_to_string(&self.ca_pem).expect("read the test CA")
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is not installed: run ./scripts/test.sh (it installs it), or apt-get install openssl");
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}
