//! Error codes and messages of single providers (Orange, Cox, GoDaddy, Microsoft, Yahoo, ...).

use super::Reason;
use super::matching::phrase_in;

/// Error codes and messages of single providers, which say the reason outright.
pub(super) fn provider_reason(t: &str) -> Option<Reason> {
    // Orange / Wanadoo / La Poste: "... OFR_416", "LPN007_510", "OUK_513".
    for tag in ["ofr_", "ofr", "lpnaaa_", "lpnaaa", "lpn", "ouk_", "ouk"] {
        let mut from = 0;
        while let Some(p) = t.get(from..).and_then(|h| h.find(tag)) {
            let start = from + p;
            from = start + tag.len();
            let before_ok = start == 0 || t.as_bytes().get(start - 1).is_some_and(|b| !b.is_ascii_alphanumeric());
            let tail: String = t.get(from..).unwrap_or("").chars().take(8).collect();
            let digits: String = tail.chars().take_while(|c| c.is_ascii_digit() || *c == '_' || *c == '-').collect();
            let code: String = digits.chars().filter(char::is_ascii_digit).collect();
            if before_ok && (code.len() == 3 || code.len() == 6) {
                let last3 = code.get(code.len() - 3..).unwrap_or("");
                if let Some(r) = orange(last3) {
                    return Some(r);
                }
            }
        }
    }
    // Cox: "AUP#CXBL", GoDaddy: "IB103", i.ua: ".i.ua/err/2".
    for (needle, r) in PROVIDER_CODES {
        if t.contains(needle) {
            return Some(*r);
        }
    }
    PROVIDER_PHRASES.iter().find(|(p, _)| phrase_in(t, p)).map(|(_, r)| *r)
}

/// Orange's error numbers.
fn orange(code: &str) -> Option<Reason> {
    let r = match code {
        "101" | "102" | "103" | "401" | "510" | "999" => Reason::Blocked,
        "104" => Reason::Toomanyconn,
        "305" | "402" => Reason::Securityerror,
        "403" | "405" | "415" | "421" => Reason::Rejected,
        "416" | "418" => Reason::Userunknown,
        "417" => Reason::Mailboxfull,
        "420" | "426" => Reason::Suspend,
        "505" => Reason::Systemerror,
        "506" => Reason::Spamdetected,
        "514" => Reason::Mesgtoobig,
        "517" => Reason::Policyviolation,
        _ => return None,
    };
    Some(r)
}

/// Providers' codes, lowercased.
const PROVIDER_CODES: &[(&str, Reason)] = &[
    // Cox.
    ("aup#cxbl", Reason::Blocked),
    ("aup#cdrbl", Reason::Blocked),
    ("aup#cxdns", Reason::Blocked),
    ("aup#ipbl", Reason::Blocked),
    ("aup#cxthrt", Reason::Securityerror),
    ("aup#cxmj", Reason::Securityerror),
    ("aup#cxsndr", Reason::Rejected),
    ("aup#cxsmtp", Reason::Rejected),
    ("aup#cxcnct", Reason::Toomanyconn),
    ("aup#cxmxrt", Reason::Toomanyconn),
    ("aup#urlbl", Reason::Spamdetected),
    // GoDaddy.
    (" ib103", Reason::Blocked),
    (" ib104", Reason::Blocked),
    (" ib105", Reason::Blocked),
    (" ib106", Reason::Blocked),
    (" ib108", Reason::Blocked),
    (" ib110", Reason::Blocked),
    (" ib111", Reason::Blocked),
    (" ib112", Reason::Blocked),
    (" ib113", Reason::Blocked),
    (" ib007", Reason::Toomanyconn),
    (" ib504", Reason::Toomanyconn),
    (" ib510", Reason::Toomanyconn),
    (" ib607", Reason::Toomanyconn),
    (" ib212", Reason::Spamdetected),
    (" ib401", Reason::Securityerror),
    (" ib501", Reason::Rejected),
    (" ib502", Reason::Rejected),
    (" ib506", Reason::Rejected),
    (" ib508", Reason::Blocked),
    (" ib705", Reason::Virusdetected),
    // i.ua.
    (".i.ua/err/1 ", Reason::Norelaying),
    (".i.ua/err/2 ", Reason::Userunknown),
    (".i.ua/err/3 ", Reason::Suspend),
    (".i.ua/err/4 ", Reason::Mailboxfull),
    (".i.ua/err/5 ", Reason::Toomanyconn),
    (".i.ua/err/6 ", Reason::Norelaying),
    (".i.ua/err/7 ", Reason::Blocked),
    (".i.ua/err/8 ", Reason::Rejected),
    (".i.ua/err/9 ", Reason::Blocked),
    (".i.ua/err/10 ", Reason::Filtered),
    // Exchange / Office 365 resolver and queue codes.
    ("resolver.adr.recipnotfound", Reason::Userunknown),
    ("resolver.adr.recipientnotfound", Reason::Userunknown),
    ("resolver.adr.exrecipnotfound", Reason::Userunknown),
    ("resolver.adr.exrecipientnotfound", Reason::Userunknown),
    ("resolver.adr.reciplimit", Reason::Toomanyconn),
    ("resolver.adr.recipientlimit", Reason::Toomanyconn),
    ("resolver.rst.recipsizelimit", Reason::Mesgtoobig),
    ("resolver.rst.recipientsizelimit", Reason::Mesgtoobig),
    ("resolver.rst.authrequired", Reason::Securityerror),
    ("resolver.rst.notauthorized", Reason::Rejected),
    ("resolver.adr.ambiguous", Reason::Systemerror),
    ("resolver.adr.badprimary", Reason::Systemerror),
    ("resolver.adr.invalidinsmtp", Reason::Systemerror),
    ("smtpsend.dns.nonexistentdomain", Reason::Hostunknown),
    ("smtpsend.dns.mxloopback", Reason::Networkerror),
    ("queue.expired", Reason::Expired),
];

/// Messages only one provider writes, lowercased.
const PROVIDER_PHRASES: &[(&str, Reason)] = &[
    // Gmail / Google Workspace.
    ("the email account that you tried to reach does not exist", Reason::Userunknown),
    ("the email account that you tried to reach is disabled", Reason::Suspend),
    ("the email account that you tried to reach is over quota", Reason::Mailboxfull),
    ("the recipient's inbox is out of storage space", Reason::Mailboxfull),
    ("the user you are trying to contact is receiving mail at a rate", Reason::Exceedlimit),
    ("your message exceeded google's message size limits", Reason::Exceedlimit),
    ("we weren't able to find the recipient domain", Reason::Hostunknown),
    ("because the address couldn't be found", Reason::Userunknown),
    ("because the domain * couldn't be found", Reason::Hostunknown),
    ("null mx", Reason::Notaccept),
    (" had no relevant answers.", Reason::Networkerror),
    (" responded with code nxdomain", Reason::Networkerror),
    ("this message is likely unsolicited mail", Reason::Spamdetected),
    ("has been blocked because it may be unsolicited mail", Reason::Spamdetected),
    ("does not have a ptr record setup", Reason::Blocked),
    ("is not authorized to send email directly to our servers", Reason::Blocked),
    ("very low reputation of the sending ip address", Reason::Blocked),
    ("very low reputation of the sending domain", Reason::Blocked),
    ("unusual rate of unsolicited mail originating from your ip address", Reason::Blocked),
    ("does not have authentication information or fails to pass authentication checks", Reason::Rejected),
    ("unauthenticated email is not accepted from this domain", Reason::Rejected),
    ("is not accepted due to domain's dmarc policy", Reason::Policyviolation),
    ("has a policy that prohibited the mail that you sent", Reason::Policyviolation),
    ("messages with multiple addresses in from: header are not accepted", Reason::Policyviolation),
    ("its content presents a potential security issue", Reason::Policyviolation),
    ("an illegal attachment on your message", Reason::Policyviolation),
    ("message exceeded 50 hops", Reason::Networkerror),
    ("dns error: domain name not found", Reason::Hostunknown),
    ("dns error: dns server returned answer with no data", Reason::Hostunknown),
    ("the recipient server did not accept our requests to connect", Reason::Expired),
    ("dns error: could not contact dns servers", Reason::Expired),
    // Tencent QQ.
    ("mail is rejected by recipients", Reason::Filtered),
    ("mail content denied", Reason::Spamdetected),
    ("spam is embedded in the email", Reason::Spamdetected),
    ("ip frequency limited", Reason::Toomanyconn),
    ("domain frequency limited", Reason::Toomanyconn),
    ("sender frequency limited", Reason::Toomanyconn),
    ("connection frequency limited", Reason::Toomanyconn),
    // Yahoo.
    ("temporarily deferred due to unexpected volume or user complaints", Reason::Blocked),
    ("will be permanently deferred; retrying will not succeed", Reason::Blocked),
    ("temporarily deferred due to user complaints", Reason::Blocked),
    // Microsoft (Outlook.com, Office 365).
    ("part of their network is on our block list", Reason::Blocked),
    ("banned sending ip", Reason::Blocked),
    ("not currently accepting mail from your ip", Reason::Blocked),
    ("access denied, spam abuse detected", Reason::Spamdetected),
    ("access denied, banned sender", Reason::Spamdetected),
    ("access denied, banned recipient", Reason::Filtered),
    ("access denied, rejected by recipient", Reason::Filtered),
    ("tenant has exceeded threshold", Reason::Toomanyconn),
    ("has exceeded permitted limits within", Reason::Toomanyconn),
    ("does not pass dmarc verification", Reason::Rejected),
    ("remote server returned unknown recipient", Reason::Userunknown),
];
