//! Enhanced status codes (RFC 3463) and the reasons they stand for.

use super::Reason;

/// The reason an enhanced status code stands for (RFC 3463, RFC 3886, RFC 7372, RFC 7505).
pub(crate) fn status_reason(code: &str) -> Option<Reason> {
    let mut parts = code.trim().split('.');
    let class = parts.next()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    let permanent = class == "5";
    if let Some(r) = microsoft_status(permanent, subject, detail) {
        return Some(r);
    }
    let r = match (subject, detail) {
        (1, 0) | (1, 1) | (1, 3) if permanent => Reason::Userunknown,
        (1, 2) if permanent => Reason::Hostunknown,
        (1, 4) if permanent => Reason::Filtered,
        (1, 6) => Reason::Hasmoved,
        (1, 7) | (1, 8) => Reason::Rejected,
        (1, 9) => Reason::Systemerror,
        (1, 10) => Reason::Notaccept,
        (2, 0) if permanent => Reason::Filtered,
        (2, 1) => {
            if permanent {
                Reason::Filtered
            } else {
                Reason::Suspend
            }
        }
        (2, 2) => Reason::Mailboxfull,
        (2, 3) => Reason::Exceedlimit,
        (2, 4) => Reason::Filtered,
        (3, 0) => Reason::Systemerror,
        (3, 1) => Reason::Systemfull,
        (3, 2) => Reason::Notaccept,
        (3, 3) | (3, 5) => Reason::Systemerror,
        (3, 4) if permanent => Reason::Mesgtoobig,
        (4, 0) if permanent => Reason::Networkerror,
        (4, 1) if !permanent => Reason::Expired,
        (4, 2) | (4, 6) if !permanent => Reason::Networkerror,
        (4, 3) if permanent => Reason::Systemerror,
        (4, 4) => {
            if permanent {
                Reason::Hostunknown
            } else {
                Reason::Networkerror
            }
        }
        (4, 5) if !permanent => Reason::Systemfull,
        (4, 7) if !permanent => Reason::Expired,
        (5, 3) => {
            if permanent {
                Reason::Toomanyconn
            } else {
                Reason::Systemerror
            }
        }
        (5, 4) if permanent => Reason::Systemerror,
        (5, 5) => Reason::Systemerror,
        (5, 6) if permanent => Reason::Securityerror,
        (6, _) => Reason::Contenterror,
        (7, 1) | (7, 2) if !permanent => Reason::Blocked,
        (7, 13) if permanent => Reason::Suspend,
        (7, 16) => Reason::Mesgtoobig,
        (7, 17) | (7, 18) if permanent => Reason::Hasmoved,
        (7, 25) => Reason::Blocked,
        (7, 27) if permanent => Reason::Notaccept,
        (7, 0..=26) => Reason::Securityerror,
        _ => return None,
    };
    Some(r)
}

/// Exchange Online's own detail codes (three digits, X.7.5xx and the like).
fn microsoft_status(permanent: bool, subject: u16, detail: u16) -> Option<Reason> {
    let r = match (permanent, subject, detail) {
        (false, 4, 312) | (true, 4, 312) => Reason::Networkerror,
        (false, 4, 316) | (true, 4, 316) => Reason::Expired,
        (false, 7, 500..=699) | (false, 7, 850..=899) => Reason::Blocked,
        (true, 0, 350) | (true, 6, 11) => Reason::Contenterror,
        (true, 7, 501..=503) => Reason::Spamdetected,
        (true, 7, 504 | 505) => Reason::Filtered,
        (true, 7, 506 | 507) => Reason::Blocked,
        (true, 7, 508) => Reason::Toomanyconn,
        (true, 7, 509 | 512) => Reason::Securityerror,
        (true, 7, 510) => Reason::Notaccept,
        (true, 7, 511) => Reason::Rejected,
        (true, 7, 600..=699) => Reason::Blocked,
        (true, 7, 700..=749) => Reason::Toomanyconn,
        _ => return None,
    };
    Some(r)
}
