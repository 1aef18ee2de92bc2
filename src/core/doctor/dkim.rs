//! PURE: DKIM key records (RFC 6376 §3.6.1, RFC 8463 for ed25519) at
//! `SELECTOR._domainkey.DOMAIN`, and an RSA key's size in bits, read from
//! its DER (a SubjectPublicKeyInfo, or a bare RSAPublicKey as some
//! publishers put there) with a small walk over the few types it holds.

use base64::Engine as _;

/// What a key record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Rsa {
        bits: usize,
    },
    Ed25519,
    /// `p=` is empty: the key was revoked.
    Revoked,
}

/// A parsed key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key: Key,
    /// `t=y`: the domain is testing DKIM, receivers may ignore signatures.
    pub testing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("v={0:?} is not DKIM1")]
    Version(String),
    #[error("it has no p= (public key) tag")]
    NoKey,
    #[error("k={0:?} is not a key type receivers know (rsa, ed25519)")]
    KeyType(String),
    #[error("p= is not base64")]
    Base64,
    #[error("p= does not hold an RSA public key ({0})")]
    NotRsa(&'static str),
    #[error("p= does not hold an ed25519 key (32 bytes), but {0} bytes")]
    NotEd25519(usize),
}

/// Parses a key record (`v=DKIM1; k=rsa; p=MIIB...`).
pub fn parse(text: &str) -> Result<KeyRecord, ParseError> {
    let tags: Vec<(String, String)> = text
        .split(';')
        .filter_map(|part| part.split_once('='))
        .map(|(tag, value)| (tag.trim().to_ascii_lowercase(), value.split_whitespace().collect::<String>()))
        .collect();
    let tag = |name: &str| tags.iter().find(|(t, _)| t == name).map(|(_, v)| v.as_str());
    if let Some(version) = tag("v")
        && version != "DKIM1"
    {
        return Err(ParseError::Version(version.to_string()));
    }
    let testing = tag("t").is_some_and(|flags| flags.split(':').any(|f| f.trim().eq_ignore_ascii_case("y")));
    let p = tag("p").ok_or(ParseError::NoKey)?;
    if p.is_empty() {
        return Ok(KeyRecord { key: Key::Revoked, testing });
    }
    let der = base64::engine::general_purpose::STANDARD.decode(p).map_err(|_| ParseError::Base64)?;
    let key = match tag("k").map(str::to_ascii_lowercase).as_deref() {
        None | Some("rsa") => Key::Rsa { bits: rsa_bits(&der)? },
        Some("ed25519") if der.len() == 32 => Key::Ed25519,
        Some("ed25519") => return Err(ParseError::NotEd25519(der.len())),
        Some(other) => return Err(ParseError::KeyType(other.to_string())),
    };
    Ok(KeyRecord { key, testing })
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
/// 1.2.840.113549.1.1.1
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The modulus size of an RSA public key in DER: a SubjectPublicKeyInfo or
/// a bare RSAPublicKey.
pub fn rsa_bits(der: &[u8]) -> Result<usize, ParseError> {
    let (tag, outer, _) = tlv(der).ok_or(ParseError::NotRsa("not DER"))?;
    if tag != SEQUENCE {
        return Err(ParseError::NotRsa("not a DER sequence"));
    }
    let (first_tag, first, rest) = tlv(outer).ok_or(ParseError::NotRsa("truncated"))?;
    match first_tag {
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
        INTEGER => modulus_bits(first),
        // SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, params }, BIT STRING }
        SEQUENCE => {
            let (oid_tag, oid, _) = tlv(first).ok_or(ParseError::NotRsa("truncated algorithm"))?;
            if oid_tag != OID || oid != RSA_ENCRYPTION {
                return Err(ParseError::NotRsa("the algorithm is not rsaEncryption"));
            }
            let (bits_tag, bits, _) = tlv(rest).ok_or(ParseError::NotRsa("no key bits"))?;
            let inner = match bits.split_first() {
                Some((0, inner)) if bits_tag == BIT_STRING => inner,
                _ => return Err(ParseError::NotRsa("the key is not a BIT STRING")),
            };
            let (seq_tag, key, _) = tlv(inner).ok_or(ParseError::NotRsa("truncated key"))?;
            let (int_tag, modulus, _) = tlv(key).ok_or(ParseError::NotRsa("truncated key"))?;
            if seq_tag != SEQUENCE || int_tag != INTEGER {
                return Err(ParseError::NotRsa("the key is not an RSAPublicKey"));
            }
            modulus_bits(modulus)
        }
        _ => Err(ParseError::NotRsa("neither SubjectPublicKeyInfo nor RSAPublicKey")),
    }
}

fn modulus_bits(integer: &[u8]) -> Result<usize, ParseError> {
    let start = integer.iter().position(|b| *b != 0).ok_or(ParseError::NotRsa("the modulus is zero"))?;
    let significant = &integer[start..];
    let top = significant.first().copied().unwrap_or_default();
    Ok((significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize))
}

/// One DER tag-length-value: the tag, the value and what follows.
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count].iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A DER length.
    pub fn len(n: usize) -> Vec<u8> {
        match n {
            0..0x80 => vec![n as u8],
            0x80..0x100 => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }

    pub fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(len(content.len()));
        out.extend(content);
        out
    }

    /// An RSAPublicKey with a modulus of `bits` bits (top bit set), exponent 65537.
    pub fn rsa_public_key(bits: usize) -> Vec<u8> {
        let mut modulus = vec![0u8; bits / 8];
        modulus[0] = 0x80;
        modulus.insert(0, 0); // positive INTEGER
        let mut key = wrap(INTEGER, &modulus);
        key.extend(wrap(INTEGER, &[0x01, 0x00, 0x01]));
        wrap(SEQUENCE, &key)
    }

    pub fn spki(bits: usize) -> Vec<u8> {
        let mut algorithm = wrap(OID, RSA_ENCRYPTION);
        algorithm.extend([0x05, 0x00]);
        let mut content = wrap(SEQUENCE, &algorithm);
        let mut bit_string = vec![0];
        bit_string.extend(rsa_public_key(bits));
        content.extend(wrap(BIT_STRING, &bit_string));
        wrap(SEQUENCE, &content)
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

    fn b64(der: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(der)
    }

    #[test]
    fn rsa_sizes_are_read_from_spki_and_bare_keys() {
        for bits in [512, 1024, 2048, 4096] {
            assert_eq!(rsa_bits(&spki(bits)), Ok(bits), "spki {bits}");
            assert_eq!(rsa_bits(&rsa_public_key(bits)), Ok(bits), "bare {bits}");
        }
    }

    #[test]
    fn a_key_made_by_openssl() {
        // openssl genrsa 1024 | openssl rsa -pubout
        let p = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDXR3+wRyC9GWVWQwDK4v/wnc9wD9H+HF/xxDD/Q4iO4pORcoGg8jB865wtn+O0LGxARvWG9crba3F/CcORlyyOLeoYQtHxNlRnHpf9ycIcwS0sKFF6/ivAcSYF+fL95Mi23EWrSbi7AfccJujA8xAssQO6dzNtsYQrlc6Of4bPrQIDAQAB";
        assert_eq!(parse(&format!("v=DKIM1; k=rsa; p={p}")).unwrap().key, Key::Rsa { bits: 1024 });
    }

    #[test]
    fn key_records_read_type_size_testing_and_revocation() {
        let record = parse(&format!("v=DKIM1; k=rsa; t=y; p={}", b64(&spki(1024)))).unwrap();
        assert_eq!(record, KeyRecord { key: Key::Rsa { bits: 1024 }, testing: true });
        // Folded with spaces, as long TXT records often are; k= defaults to rsa.
        let folded: String = b64(&spki(2048))
            .chars()
            .enumerate()
            .flat_map(|(i, c)| if i % 60 == 59 { vec![c, ' '] } else { vec![c] })
            .collect();
        assert_eq!(parse(&format!("p={folded}")).unwrap().key, Key::Rsa { bits: 2048 });
        assert_eq!(parse(&format!("v=DKIM1; k=ed25519; p={}", b64(&[7; 32]))).unwrap().key, Key::Ed25519);
        assert_eq!(parse("v=DKIM1; p=").unwrap().key, Key::Revoked);
    }

    #[test]
    fn broken_key_records_say_why() {
        assert_eq!(parse("v=DKIM2; p=abc"), Err(ParseError::Version("DKIM2".into())));
        assert_eq!(parse("v=DKIM1; k=rsa"), Err(ParseError::NoKey));
        assert_eq!(parse("v=DKIM1; p=!!!"), Err(ParseError::Base64));
        assert_eq!(parse(&format!("k=dsa; p={}", b64(&spki(1024)))), Err(ParseError::KeyType("dsa".into())));
        assert_eq!(parse(&format!("k=ed25519; p={}", b64(&[1; 31]))), Err(ParseError::NotEd25519(31)));
        assert!(matches!(parse(&format!("p={}", b64(b"hello"))), Err(ParseError::NotRsa(_))));
        let mut truncated = spki(2048);
        truncated.truncate(100);
        assert!(matches!(rsa_bits(&truncated), Err(ParseError::NotRsa(_))));
        assert!(matches!(rsa_bits(&wrap(SEQUENCE, &wrap(INTEGER, &[0, 0]))), Err(ParseError::NotRsa(_))));
    }

    proptest::proptest! {
        #[test]
        fn no_der_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = rsa_bits(&bytes);
            let _ = parse(&format!("p={}", b64(&bytes)));
        }

        #[test]
        fn no_text_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }
    }
}
