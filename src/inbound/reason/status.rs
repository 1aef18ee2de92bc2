//! Enhanced status codes (RFC 3463) and the reasons they stand for.

use super::BounceReason;

/// The reason an enhanced status code stands for (RFC 3463, RFC 3886, RFC 7372, RFC 7505).
pub(crate) fn status_reason(code: &str) -> Option<BounceReason> {
    let mut parts = code.trim().split('.');
    let class = parts.next()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    let permanent = class == "5";
    if let Some(r) = microsoft_status(permanent, subject, detail) {
        return Some(r);
    }
    let r = match (subject, detail) {
        (1, 0) | (1, 1) | (1, 3) if permanent => BounceReason::Userunknown,
        (1, 2) if permanent => BounceReason::Hostunknown,
        (1, 4) if permanent => BounceReason::Filtered,
        (1, 6) => BounceReason::Hasmoved,
        (1, 7) | (1, 8) => BounceReason::Rejected,
        (1, 9) => BounceReason::Systemerror,
        (1, 10) => BounceReason::Notaccept,
        (2, 0) if permanent => BounceReason::Filtered,
        (2, 1) => {
            if permanent {
                BounceReason::Filtered
            } else {
                BounceReason::Suspend
            }
        }
        (2, 2) => BounceReason::Mailboxfull,
        (2, 3) => BounceReason::Exceedlimit,
        (2, 4) => BounceReason::Filtered,
        (3, 0) => BounceReason::Systemerror,
        (3, 1) => BounceReason::Systemfull,
        (3, 2) => BounceReason::Notaccept,
        (3, 3) | (3, 5) => BounceReason::Systemerror,
        (3, 4) if permanent => BounceReason::Mesgtoobig,
        (4, 0) if permanent => BounceReason::Networkerror,
        (4, 1) if !permanent => BounceReason::Expired,
        (4, 2) | (4, 6) if !permanent => BounceReason::Networkerror,
        (4, 3) if permanent => BounceReason::Systemerror,
        (4, 4) => {
            if permanent {
                BounceReason::Hostunknown
            } else {
                BounceReason::Networkerror
            }
        }
        (4, 5) if !permanent => BounceReason::Systemfull,
        (4, 7) if !permanent => BounceReason::Expired,
        (5, 3) => {
            if permanent {
                BounceReason::Toomanyconn
            } else {
                BounceReason::Systemerror
            }
        }
        (5, 4) if permanent => BounceReason::Systemerror,
        (5, 5) => BounceReason::Systemerror,
        (5, 6) if permanent => BounceReason::Securityerror,
        (6, _) => BounceReason::Contenterror,
        (7, 1) | (7, 2) if !permanent => BounceReason::Blocked,
        (7, 13) if permanent => BounceReason::Suspend,
        (7, 16) => BounceReason::Mesgtoobig,
        (7, 17) | (7, 18) if permanent => BounceReason::Hasmoved,
        (7, 25) => BounceReason::Blocked,
        (7, 27) if permanent => BounceReason::Notaccept,
        (7, 0..=26) => BounceReason::Securityerror,
        _ => return None,
    };
    Some(r)
}

/// Exchange Online's own detail codes (three digits, X.7.5xx and the like).
fn microsoft_status(permanent: bool, subject: u16, detail: u16) -> Option<BounceReason> {
    let r = match (permanent, subject, detail) {
        (false, 4, 312) | (true, 4, 312) => BounceReason::Networkerror,
        (false, 4, 316) | (true, 4, 316) => BounceReason::Expired,
        (false, 7, 500..=699) | (false, 7, 850..=899) => BounceReason::Blocked,
        (true, 0, 350) | (true, 6, 11) => BounceReason::Contenterror,
        (true, 7, 501..=503) => BounceReason::Spamdetected,
        (true, 7, 504 | 505) => BounceReason::Filtered,
        (true, 7, 506 | 507) => BounceReason::Blocked,
        (true, 7, 508) => BounceReason::Toomanyconn,
        (true, 7, 509 | 512) => BounceReason::Securityerror,
        (true, 7, 510) => BounceReason::Notaccept,
        (true, 7, 511) => BounceReason::Rejected,
        (true, 7, 600..=699) => BounceReason::Blocked,
        (true, 7, 700..=749) => BounceReason::Toomanyconn,
        _ => return None,
    };
    Some(r)
}
