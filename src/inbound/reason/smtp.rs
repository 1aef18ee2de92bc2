//! Refusals met while talking SMTP, and the command a refusal answered.

use super::{BounceReason, Evidence, decide};
use crate::inbound::text;
use crate::model::{Refusal, Rejection};

/// The refusal a transport reported, if the server answered with a 5xx
/// reply code; `None` for a refusal of our own (an address no server could
/// take).
pub fn refusal(rejection: &Rejection) -> Option<Refusal> {
    let code = rejection.code.filter(|c| (500..600).contains(c))?;
    let reason = smtp_reason(code, None, &rejection.text);
    Some(Refusal { reason, blame: reason.blame(), reply: rejection.to_string() })
}

/// The reason of an SMTP refusal met while sending: the reply `code` (550), its enhanced status code
/// when the server gave one (`"5.1.1"`; else it is looked for in `text`) and the reply text. The text
/// may tell the refused command ("... (in reply to end of DATA command)"); else the refusal is taken
/// for the answer to RCPT TO, the command that names a recipient.
pub fn smtp_reason(code: u16, enhanced: Option<&str>, text: &str) -> BounceReason {
    let found = text::best_enhanced(text);
    let status = enhanced.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).or(found);
    let reply = (400..600).contains(&code).then_some(code);
    decide(&Evidence { status: status.as_deref(), reply, text, delayed: false, command: Some(Command::Rcpt) })
}

/// The SMTP command a refusal answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Connect,
    Helo,
    Mail,
    Rcpt,
    Data,
}

/// The SMTP command the (last) refusal in `t` answered, from the wording of the common MTAs.
pub(crate) fn command(t: &str) -> Option<Command> {
    const CUES: &[(&str, Command)] = &[
        ("in reply to rcpt to", Command::Rcpt),
        ("after rcpt to", Command::Rcpt),
        (">>> rcpt to", Command::Rcpt),
        ("does not like recipient", Command::Rcpt),
        ("most progress was rcpt to", Command::Rcpt),
        ("did not like our rcpt to", Command::Rcpt),
        ("did not like our mail from", Command::Mail),
        ("did not like our data", Command::Data),
        ("did not like our final dot", Command::Data),
        ("for rcpt to response", Command::Rcpt),
        ("most progress was mail from", Command::Mail),
        ("most progress was data", Command::Data),
        ("for rcpt command", Command::Rcpt),
        ("in reply to mail from", Command::Mail),
        ("after mail from", Command::Mail),
        (">>> mail from", Command::Mail),
        ("but sender was rejected", Command::Mail),
        ("in reply to end of data", Command::Data),
        ("in reply to data", Command::Data),
        ("after end of data", Command::Data),
        ("after data", Command::Data),
        (">>> data", Command::Data),
        ("failed on data command", Command::Data),
        ("failed after i sent the message", Command::Data),
        ("in reply to ehlo", Command::Helo),
        ("in reply to helo", Command::Helo),
        ("after ehlo", Command::Helo),
        ("after helo", Command::Helo),
        (">>> ehlo", Command::Helo),
        (">>> helo", Command::Helo),
        ("but my name was rejected", Command::Helo),
        ("after initial connection", Command::Connect),
        ("but greeting failed", Command::Connect),
        ("in reply to initial greeting", Command::Connect),
    ];
    let mut best: Option<(usize, Command)> = None;
    for (cue, cmd) in CUES {
        if let Some(p) = t.rfind(cue)
            && best.is_none_or(|(b, _)| p > b)
        {
            best = Some((p, *cmd));
        }
    }
    best.map(|(_, c)| c)
}

/// The SMTP command a transcript names in capitals ("... User unknown [RCPT_TO]", ">>> DATA"), the
/// last one named: the fallback of [`command`] when no wording of a known MTA tells it.
pub(crate) fn command_named(raw: &str) -> Option<Command> {
    const NAMES: &[(&str, Command)] = &[
        ("EHLO", Command::Helo),
        ("HELO", Command::Helo),
        ("MAIL FROM", Command::Mail),
        ("RCPT", Command::Rcpt),
        ("DATA", Command::Data),
    ];
    let is_word_end = |b: Option<&u8>| b.is_none_or(|c| !c.is_ascii_alphanumeric());
    let mut best: Option<(usize, Command)> = None;
    for (name, cmd) in NAMES {
        let mut from = 0;
        while let Some(p) = raw.get(from..).and_then(|h| h.find(name)) {
            let start = from + p;
            from = start + name.len();
            let bytes = raw.as_bytes();
            let before = start.checked_sub(1).and_then(|i| bytes.get(i));
            if is_word_end(before) && is_word_end(bytes.get(from)) && best.is_none_or(|(b, _)| start > b) {
                best = Some((start, *cmd));
            }
        }
    }
    best.map(|(_, c)| c)
}
