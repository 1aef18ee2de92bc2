//! Error codes and messages of single providers (Orange, Cox, GoDaddy, Microsoft, Yahoo, ...).

use super::BounceReason;
use super::matching::phrase_in;

/// Error codes and messages of single providers, which say the reason outright.
pub(super) fn provider_reason(t: &str) -> Option<BounceReason> {
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
    // Gmail found neither an MX nor an address record: the domain takes no mail (RFC 5321 5.1).
    let none = |pattern: &str| phrase_in(t, pattern);
    if none("dns type 'mx' lookup of * had no relevant answers")
        && (none("dns type 'a' lookup of * had no relevant answers")
            || none("dns type 'aaaa' lookup of * had no relevant answers"))
    {
        return Some(BounceReason::Notaccept);
    }
    PROVIDER_PHRASES.iter().find(|(p, _)| phrase_in(t, p)).map(|(_, r)| *r)
}

/// Orange's error numbers.
fn orange(code: &str) -> Option<BounceReason> {
    let r = match code {
        "101" | "102" | "103" | "401" | "510" | "999" => BounceReason::Blocked,
        "104" => BounceReason::Toomanyconn,
        "305" | "402" => BounceReason::Securityerror,
        "403" | "405" | "415" | "421" => BounceReason::Rejected,
        "416" | "418" => BounceReason::Userunknown,
        "417" => BounceReason::Mailboxfull,
        "420" | "426" => BounceReason::Suspend,
        "505" => BounceReason::Systemerror,
        "506" => BounceReason::Spamdetected,
        "514" => BounceReason::Mesgtoobig,
        "517" => BounceReason::Policyviolation,
        _ => return None,
    };
    Some(r)
}

/// Providers' codes, lowercased.
const PROVIDER_CODES: &[(&str, BounceReason)] = &[
    // Cox.
    ("aup#cxbl", BounceReason::Blocked),
    ("aup#cdrbl", BounceReason::Blocked),
    ("aup#cxdns", BounceReason::Blocked),
    ("aup#ipbl", BounceReason::Blocked),
    ("aup#cxthrt", BounceReason::Securityerror),
    ("aup#cxmj", BounceReason::Securityerror),
    ("aup#cxsndr", BounceReason::Rejected),
    ("aup#cxsmtp", BounceReason::Rejected),
    ("aup#cxcnct", BounceReason::Toomanyconn),
    ("aup#cxmxrt", BounceReason::Toomanyconn),
    ("aup#urlbl", BounceReason::Spamdetected),
    // GoDaddy.
    (" ib103", BounceReason::Blocked),
    (" ib104", BounceReason::Blocked),
    (" ib105", BounceReason::Blocked),
    (" ib106", BounceReason::Blocked),
    (" ib108", BounceReason::Blocked),
    (" ib110", BounceReason::Blocked),
    (" ib111", BounceReason::Blocked),
    (" ib112", BounceReason::Blocked),
    (" ib113", BounceReason::Blocked),
    (" ib007", BounceReason::Toomanyconn),
    (" ib504", BounceReason::Toomanyconn),
    (" ib510", BounceReason::Toomanyconn),
    (" ib607", BounceReason::Toomanyconn),
    (" ib212", BounceReason::Spamdetected),
    (" ib401", BounceReason::Securityerror),
    (" ib501", BounceReason::Rejected),
    (" ib502", BounceReason::Rejected),
    (" ib506", BounceReason::Rejected),
    (" ib508", BounceReason::Blocked),
    (" ib705", BounceReason::Virusdetected),
    // i.ua.
    (".i.ua/err/1 ", BounceReason::Norelaying),
    (".i.ua/err/2 ", BounceReason::Userunknown),
    (".i.ua/err/3 ", BounceReason::Suspend),
    (".i.ua/err/4 ", BounceReason::Mailboxfull),
    (".i.ua/err/5 ", BounceReason::Toomanyconn),
    (".i.ua/err/6 ", BounceReason::Norelaying),
    (".i.ua/err/7 ", BounceReason::Blocked),
    (".i.ua/err/8 ", BounceReason::Rejected),
    (".i.ua/err/9 ", BounceReason::Blocked),
    (".i.ua/err/10 ", BounceReason::Filtered),
    // Exchange / Office 365 resolver and queue codes.
    ("resolver.adr.recipnotfound", BounceReason::Userunknown),
    ("resolver.adr.recipientnotfound", BounceReason::Userunknown),
    ("resolver.adr.exrecipnotfound", BounceReason::Userunknown),
    ("resolver.adr.exrecipientnotfound", BounceReason::Userunknown),
    ("resolver.adr.reciplimit", BounceReason::Toomanyconn),
    ("resolver.adr.recipientlimit", BounceReason::Toomanyconn),
    ("resolver.rst.recipsizelimit", BounceReason::Mesgtoobig),
    ("resolver.rst.recipientsizelimit", BounceReason::Mesgtoobig),
    ("resolver.rst.authrequired", BounceReason::Securityerror),
    ("resolver.rst.notauthorized", BounceReason::Rejected),
    ("resolver.adr.ambiguous", BounceReason::Systemerror),
    ("resolver.adr.badprimary", BounceReason::Systemerror),
    ("resolver.adr.invalidinsmtp", BounceReason::Systemerror),
    ("smtpsend.dns.nonexistentdomain", BounceReason::Hostunknown),
    ("smtpsend.dns.mxloopback", BounceReason::Networkerror),
    ("queue.expired", BounceReason::Expired),
];

/// Messages only one provider writes, lowercased.
const PROVIDER_PHRASES: &[(&str, BounceReason)] = &[
    // Gmail / Google Workspace.
    ("the email account that you tried to reach does not exist", BounceReason::Userunknown),
    ("the email account that you tried to reach is disabled", BounceReason::Suspend),
    ("the email account that you tried to reach is over quota", BounceReason::Mailboxfull),
    ("the recipient's inbox is out of storage space", BounceReason::Mailboxfull),
    ("the user you are trying to contact is receiving mail at a rate", BounceReason::Exceedlimit),
    ("your message exceeded google's message size limits", BounceReason::Exceedlimit),
    ("we weren't able to find the recipient domain", BounceReason::Hostunknown),
    ("because the address couldn't be found", BounceReason::Userunknown),
    ("because the domain * couldn't be found", BounceReason::Hostunknown),
    ("null mx", BounceReason::Notaccept),
    (" had no relevant answers.", BounceReason::Networkerror),
    // NXDOMAIN: the name does not exist (RFC 1035 4.1.1, RFC 8020), whatever class Gmail's Status
    // field gives it; "no relevant answers" (NODATA, SERVFAIL) is not that.
    (" responded with code nxdomain", BounceReason::Hostunknown),
    ("this message is likely unsolicited mail", BounceReason::Spamdetected),
    ("has been blocked because it may be unsolicited mail", BounceReason::Spamdetected),
    ("does not have a ptr record setup", BounceReason::Blocked),
    ("is not authorized to send email directly to our servers", BounceReason::Blocked),
    ("very low reputation of the sending ip address", BounceReason::Blocked),
    ("very low reputation of the sending domain", BounceReason::Blocked),
    ("unusual rate of unsolicited mail originating from your ip address", BounceReason::Blocked),
    ("does not have authentication information or fails to pass authentication checks", BounceReason::Rejected),
    ("unauthenticated email is not accepted from this domain", BounceReason::Rejected),
    ("is not accepted due to domain's dmarc policy", BounceReason::Policyviolation),
    ("has a policy that prohibited the mail that you sent", BounceReason::Policyviolation),
    ("messages with multiple addresses in from: header are not accepted", BounceReason::Policyviolation),
    ("its content presents a potential security issue", BounceReason::Policyviolation),
    ("an illegal attachment on your message", BounceReason::Policyviolation),
    ("message exceeded 50 hops", BounceReason::Networkerror),
    ("dns error: domain name not found", BounceReason::Hostunknown),
    ("dns error: dns server returned answer with no data", BounceReason::Hostunknown),
    ("the recipient server did not accept our requests to connect", BounceReason::Expired),
    ("dns error: could not contact dns servers", BounceReason::Expired),
    // Tencent QQ.
    ("mail is rejected by recipients", BounceReason::Filtered),
    ("mail content denied", BounceReason::Spamdetected),
    ("spam is embedded in the email", BounceReason::Spamdetected),
    ("ip frequency limited", BounceReason::Toomanyconn),
    ("domain frequency limited", BounceReason::Toomanyconn),
    ("sender frequency limited", BounceReason::Toomanyconn),
    ("connection frequency limited", BounceReason::Toomanyconn),
    // Yahoo.
    ("temporarily deferred due to unexpected volume or user complaints", BounceReason::Blocked),
    ("will be permanently deferred; retrying will not succeed", BounceReason::Blocked),
    ("temporarily deferred due to user complaints", BounceReason::Blocked),
    // Microsoft (Outlook.com, Office 365).
    ("part of their network is on our block list", BounceReason::Blocked),
    ("banned sending ip", BounceReason::Blocked),
    ("not currently accepting mail from your ip", BounceReason::Blocked),
    ("access denied, spam abuse detected", BounceReason::Spamdetected),
    ("access denied, banned sender", BounceReason::Spamdetected),
    ("access denied, banned recipient", BounceReason::Filtered),
    ("access denied, rejected by recipient", BounceReason::Filtered),
    ("tenant has exceeded threshold", BounceReason::Toomanyconn),
    ("has exceeded permitted limits within", BounceReason::Toomanyconn),
    ("does not pass dmarc verification", BounceReason::Policyviolation),
    ("remote server returned unknown recipient", BounceReason::Userunknown),
    // Mimecast's documented refusals (community.mimecast.com, DOC-1369).
    ("spf sender invalid - envelope rejected", BounceReason::Securityerror),
    ("dkim sender invalid - envelope rejected", BounceReason::Securityerror),
    ("dmarc sender invalid - envelope rejected", BounceReason::Securityerror),
    ("local ct ip reputation", BounceReason::Blocked),
    ("ip temporarily blacklisted", BounceReason::Blocked),
    ("the incorrect hostname used for inbounds", BounceReason::Networkerror),
    ("open relay not allowed", BounceReason::Norelaying),
    ("open relay is not allowed", BounceReason::Norelaying),
    ("account inbounds disabled", BounceReason::Notaccept),
    ("anti-spoofing policy - inbound not allowed", BounceReason::Policyviolation),
    ("header-based anti-spoofing policy", BounceReason::Policyviolation),
    ("bounced due to content examination policy", BounceReason::Policyviolation),
    ("host network not allowed", BounceReason::Policyviolation),
    ("host network, not allowed", BounceReason::Policyviolation),
    ("administrative prohibition envelope blocked", BounceReason::Rejected),
    ("envelope blocked - user entry", BounceReason::Rejected),
    ("envelope blocked - user domain entry", BounceReason::Rejected),
    ("header-based manually blocked senders", BounceReason::Rejected),
    ("header-based blocked senders", BounceReason::Rejected),
    ("block policy for envelope from address", BounceReason::Rejected),
    ("this route requires encryption (tls)", BounceReason::Securityerror),
    ("this route requires tls version 1.2 or greater", BounceReason::Securityerror),
    ("this route requires high-strength ciphers", BounceReason::Securityerror),
    ("exceeding outbound thread limit", BounceReason::Toomanyconn),
    // Google (Gmail, Workspace): its documented refusals.
    ("senders to authenticate with either spf or dkim", BounceReason::Securityerror),
    ("senders to authenticate with spf", BounceReason::Securityerror),
    ("senders to authenticate their email with spf", BounceReason::Securityerror),
    ("senders to authenticate with dkim", BounceReason::Securityerror),
    ("senders to authenticate their email with dkim", BounceReason::Securityerror),
    ("aligned with either the authenticated spf or dkim", BounceReason::Securityerror),
    ("ip not in whitelist for rcpt domain", BounceReason::Blocked),
    ("empty helo/ehlo argument not allowed", BounceReason::Blocked),
    ("helo/ehlo argument is invalid", BounceReason::Blocked),
    ("an unusual rate of mail", BounceReason::Blocked),
    ("timeout - closing connection", BounceReason::Expired),
    ("invalid credentials for relay", BounceReason::Norelaying),
    ("missing a valid address in the from: header", BounceReason::Contenterror),
    ("is not rfc 5322 compliant", BounceReason::Contenterror),
    ("missing a valid message-id: header", BounceReason::Contenterror),
    ("contains a unicode character in a disallowed header", BounceReason::Contenterror),
    ("encoded-word syntax is not permitted", BounceReason::Contenterror),
    ("illegal attachment on your message", BounceReason::Policyviolation),
    ("has a policy that prohibited", BounceReason::Policyviolation),
    ("sending messages with the same message-id:", BounceReason::Policyviolation),
    ("mail sending denied", BounceReason::Rejected),
    ("does not have a ptr record", BounceReason::Blocked),
    ("have a ptr record, or the ptr record", BounceReason::Blocked),
    ("sending guidelines regarding ptr records", BounceReason::Blocked),
    ("does not match the ip address of the hostname", BounceReason::Blocked),
    ("tls required for rcpt domain", BounceReason::Securityerror),
    ("too many login attempts", BounceReason::Securityerror),
    ("application-specific password required", BounceReason::Securityerror),
    ("please log in with your web browser", BounceReason::Securityerror),
    ("please log in through your web browser", BounceReason::Securityerror),
    ("username and password not accepted", BounceReason::Securityerror),
    ("senders to use tls/ssl for smtp", BounceReason::Securityerror),
    ("due to the nature of the content or the links within", BounceReason::Spamdetected),
    ("is receiving mail too quickly", BounceReason::Toomanyconn),
    ("peak smtp relay limit exceeded", BounceReason::Toomanyconn),
    ("rate that prevents additional messages from being delivered", BounceReason::Toomanyconn),
    ("daily sending quota exceeded", BounceReason::Toomanyconn),
    ("daily user sending limit exceeded", BounceReason::Toomanyconn),
    ("daily smtp relay limit exceeded", BounceReason::Toomanyconn),
    ("daily smtp relay sending limit exceeded", BounceReason::Toomanyconn),
    ("this mail has been rate limited", BounceReason::Toomanyconn),
    ("account that you tried to reach is disabled", BounceReason::Suspend),
    ("account that you tried to reach is inactive", BounceReason::Suspend),
    ("too many unrecognized commands, goodbye", BounceReason::Syntaxerror),
    ("starttls may not be repeated", BounceReason::Syntaxerror),
    ("no data after bdat", BounceReason::Syntaxerror),
    ("unrecognized authentication type", BounceReason::Syntaxerror),
    ("too many unauthenticated commands", BounceReason::Syntaxerror),
    ("temporary system problem", BounceReason::Systemerror),
    ("multiple destination domains per transaction is unsupported", BounceReason::Systemerror),
    ("mail server has temporarily rejected this message", BounceReason::Systemerror),
    ("mail server temporarily rejected message", BounceReason::Systemerror),
    ("domain policy size per transaction exceeded", BounceReason::Systemerror),
    // Microsoft (Exchange Online, Outlook.com): its documented refusals.
    ("must pass either spf or dkim validation", BounceReason::Securityerror),
    ("the domain failed dane validation", BounceReason::Securityerror),
    ("destination domain returned invalid dnssec records", BounceReason::Securityerror),
    ("remote certificate must have a common name or subject alternative name", BounceReason::Securityerror),
    ("because of sender policy framework violation", BounceReason::Securityerror),
    ("destination mail server's certificate is expired", BounceReason::Securityerror),
    ("temporarily rate limited due to ip reputation", BounceReason::Blocked),
    ("must have a reverse dns record", BounceReason::Blocked),
    ("access denied, bad helo", BounceReason::Blocked),
    ("does not accept email over ipv6", BounceReason::Blocked),
    ("restrictdomainstoipaddresses or restrictdomainstocertificate", BounceReason::Blocked),
    ("agent generated message depth exceeded", BounceReason::Contenterror),
    ("queue expired; message expired", BounceReason::Expired),
    ("hosted tenant which has no mail-enabled subscriptions", BounceReason::Notaccept),
    ("missing or bad storedriver mdb properties", BounceReason::Notaccept),
    ("x-dg-ref header is too long", BounceReason::Policyviolation),
    ("access denied, bad outbound sender", BounceReason::Rejected),
    ("sender was not authenticated by organization", BounceReason::Rejected),
    ("sender not in allowed-senders list", BounceReason::Rejected),
    ("sender not authenticated for group", BounceReason::Rejected),
    ("sender was not authenticated for mailbox", BounceReason::Rejected),
    ("sender was not authenticated for public folder", BounceReason::Rejected),
    ("client blocked from sending from unregistered domains", BounceReason::Rejected),
    ("message must be rfc 5322 section 3.6.2 compliant", BounceReason::Rejected),
    ("cannot achieve exchange server authentication", BounceReason::Securityerror),
    ("starttls is required to send mail", BounceReason::Securityerror),
    ("destination mail server must support tls to receive mail", BounceReason::Securityerror),
    ("client was not authenticated to send anonymous mail", BounceReason::Securityerror),
    ("content filter agent quarantined this message", BounceReason::Spamdetected),
    ("recipient thread limit exceeded", BounceReason::Toomanyconn),
    ("reached your daily limit for message recipients", BounceReason::Toomanyconn),
    ("submission quota exceeded", BounceReason::Toomanyconn),
    ("per hour message receive limit", BounceReason::Toomanyconn),
    ("traffic not accepted from this ip", BounceReason::Toomanyconn),
    ("the recipient has exceeded their limit for", BounceReason::Toomanyconn),
    ("mailbox cannot be accessed", BounceReason::Suspend),
    ("journaling on-premises messages to microsoft 365", BounceReason::Systemerror),
    ("destination mailbox address ambiguous", BounceReason::Systemerror),
    ("mailing list expansion problem", BounceReason::Systemerror),
    ("misconfigured forwarding address", BounceReason::Systemerror),
    ("message failed to be replicated", BounceReason::Systemerror),
    ("(suspiciousremoteservererror)", BounceReason::Systemerror),
    ("pfa agent busy", BounceReason::Systemerror),
    ("insufficient system resources", BounceReason::Systemfull),
    ("recipient address reserved by rfc 2606", BounceReason::Userunknown),
    ("recipient addresses in single label domains not accepted", BounceReason::Userunknown),
    ("invalid x.400 address", BounceReason::Userunknown),
    ("storedrv.submit; invalid recipient address", BounceReason::Userunknown),
    // Yahoo, Apple (iCloud), Cox, GoDaddy, Tencent: their documented refusals.
    ("not accepted from ip addresses on spamhaus xbl", BounceReason::Blocked),
    ("headers are not rfc compliant", BounceReason::Contenterror),
    ("due to unresolvable rfc.5321 domain", BounceReason::Rejected),
    ("max message per connection reached", BounceReason::Toomanyconn),
    ("blocked for failing both spf and dkim", BounceReason::Securityerror),
    ("rejected due to having a domain present in the spamhaus", BounceReason::Blocked),
    ("rejected due to listing in spamhaus", BounceReason::Blocked),
    ("recipient no longer on server", BounceReason::Hasmoved),
    ("inactive email address", BounceReason::Userunknown),
    ("due to excessive volume", BounceReason::Toomanyconn),
    ("too many bad commands from", BounceReason::Blocked),
    ("rejected - no rdns", BounceReason::Blocked),
    ("dns check failure - try again later", BounceReason::Blocked),
    ("esmtp no data before greeting", BounceReason::Policyviolation),
    ("esmtp server temporarily not available", BounceReason::Systemerror),
    ("rbl reject", BounceReason::Blocked),
    ("message rejected for spam or virus content", BounceReason::Spamdetected),
    ("message is looping", BounceReason::Systemerror),
    ("spf check failed", BounceReason::Securityerror),
    ("dmarc check failed", BounceReason::Securityerror),
    ("suspected bounce attacks", BounceReason::Blocked),
    ("bad address syntax", BounceReason::Syntaxerror),
];
