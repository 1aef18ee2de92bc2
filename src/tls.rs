//! Which mail servers' certificates are trusted, for SMTP and IMAP alike: the
//! bundled web roots, the system's trust store (where `update-ca-certificates`
//! puts a company CA), and a mailbox's own `tls_ca_file` (a PEM bundle).
//! Nothing turns verification off. A failed verification names what to set.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{self, CertificateError, RootCertStore};

/// A mailbox's `tls_ca_file`, read and parsed when the config loads.
#[derive(Debug, Clone)]
pub struct CaFile {
    pub path: PathBuf,
    pub certs: Arc<Vec<CertificateDer<'static>>>,
}

/// Why a `tls_ca_file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not a PEM bundle of certificates (-----BEGIN CERTIFICATE----- ...): {detail}", path.display())]
    NotPem { path: PathBuf, detail: String },
    #[error("{} holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)", path.display())]
    Empty { path: PathBuf },
}

impl CaFile {
    /// Reads the PEM bundle at `path`.
    pub fn load(path: &Path) -> Result<CaFile, CaFileError> {
        let bytes = std::fs::read(path).map_err(|source| CaFileError::Read { path: path.to_path_buf(), source })?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CaFileError::NotPem { path: path.to_path_buf(), detail: e.to_string() })?;
        if certs.is_empty() {
            return Err(CaFileError::Empty { path: path.to_path_buf() });
        }
        Ok(CaFile { path: path.to_path_buf(), certs: Arc::new(certs) })
    }
}

/// The system's trust store, read once per process (a missing or unreadable
/// one leaves the bundled roots and `tls_ca_file`).
pub fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// Every trusted root: the bundled web roots, the system's, and `ca`'s.
pub fn root_store(ca: Option<&CaFile>) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(ca) = ca {
        roots.add_parsable_certificates(ca.certs.iter().cloned());
    }
    roots
}

/// lettre's TLS parameters for `host` with the same roots as [`root_store`].
pub fn smtp_parameters(
    host: &str,
    ca: Option<&CaFile>,
) -> Result<lettre::transport::smtp::client::TlsParameters, lettre::transport::smtp::Error> {
    use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
    let mut builder = TlsParameters::builder(host.to_string()).certificate_store(CertificateStore::WebpkiRoots);
    let extra = ca.map(|c| c.certs.as_slice()).unwrap_or_default();
    for der in system_roots().iter().chain(extra) {
        if let Ok(cert) = Certificate::from_der(der.to_vec()) {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build_rustls()
}

/// What to do about a TLS failure somewhere in `error`'s chain, if it is one
/// of a certificate this machine does not trust: for the log, `status`,
/// `check` and `test-send`.
pub fn advice(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        let rustls = e
            .downcast_ref::<rustls::Error>()
            .or_else(|| e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|i| i.downcast_ref()));
        if let Some(rustls::Error::InvalidCertificate(cert)) = rustls {
            return Some(match cert {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    "the server's certificate is signed by a CA this machine does not trust: install that CA in \
                     the system trust store (update-ca-certificates) or set tls_ca_file = \"/path/to/ca.pem\" in \
                     the mailbox's [mailboxes.NAME] table"
                        .to_string()
                }
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    "the server's certificate is not for the host name in the URL: use the name on the \
                     certificate in smtp = / imap ="
                        .to_string()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the server's certificate has expired: renew it on the server".to_string()
                }
                other => format!("the server's certificate was refused ({other:?}): check it with openssl s_client"),
            });
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        assert!(matches!(CaFile::load(&missing), Err(CaFileError::Read { .. })));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "just text\n").unwrap();
        let err = CaFile::load(&empty).unwrap_err();
        assert!(err.to_string().contains("holds no certificate"), "{err}");
    }

    #[test]
    fn an_unknown_issuer_says_what_to_set() {
        let e = std::io::Error::other(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        let advice = advice(&e).unwrap();
        assert!(advice.contains("tls_ca_file") && advice.contains("[mailboxes.NAME]"), "{advice}");
        assert_eq!(super::advice(&std::io::Error::other("connection refused")), None);
    }
}
