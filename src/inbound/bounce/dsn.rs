//! RFC 3464 delivery-status fields: per-recipient records and the status code of a failure.

use crate::inbound::text::{self, Field};

/// One per-recipient block of a message/delivery-status part.
#[derive(Debug, Default, Clone)]
pub(super) struct DsnRecord {
    pub(super) final_rcpt: Option<String>,
    pub(super) original_rcpt: Option<String>,
    pub(super) action: Option<String>,
    pub(super) status: Option<String>,
    pub(super) diagnostic: Option<String>,
}

impl DsnRecord {
    pub(super) fn address(&self) -> Option<&str> {
        self.final_rcpt.as_deref().or(self.original_rcpt.as_deref())
    }

    pub(super) fn is_success(&self) -> bool {
        match self.action.as_deref() {
            Some(a) if a.starts_with("delivered") || a.starts_with("relayed") || a.starts_with("expanded") => true,
            Some(a) if a.starts_with("failed") || a.starts_with("delayed") => false,
            _ => self.status.as_deref().is_some_and(|s| s.starts_with('2')),
        }
    }
}

/// Splits the fields of a delivery-status part into per-recipient records.
pub(super) fn dsn_records(text: &str) -> Vec<DsnRecord> {
    let mut out = Vec::new();
    for group in text::field_groups(text) {
        let mut cur = DsnRecord::default();
        let mut has_any = false;
        for Field { name, value } in group {
            let starts_new = match name.as_str() {
                "final-recipient" => cur.final_rcpt.is_some(),
                "original-recipient" => cur.original_rcpt.is_some(),
                _ => false,
            };
            if starts_new && has_any {
                out.push(std::mem::take(&mut cur));
            }
            match name.as_str() {
                "final-recipient" | "x-actual-recipient" if cur.final_rcpt.is_none() => {
                    cur.final_rcpt = recipient_value(&value);
                    has_any |= cur.final_rcpt.is_some();
                }
                "original-recipient" => {
                    cur.original_rcpt = recipient_value(&value);
                    has_any |= cur.original_rcpt.is_some();
                }
                "action" => cur.action = Some(value.to_ascii_lowercase()),
                "status" => {
                    cur.status = text::enhanced_codes(&value).into_iter().next().map(|c| c.code).or_else(|| {
                        let v = value.trim();
                        v.starts_with('2').then(|| v.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect())
                    })
                }
                "diagnostic-code" => cur.diagnostic = Some(value),
                _ => {}
            }
        }
        if has_any {
            out.push(cur);
        }
    }
    out
}

/// `rfc822; <addr>` -> `addr`.
fn recipient_value(value: &str) -> Option<String> {
    let v = value.split_once(';').map_or(value, |(_, v)| v);
    text::first_address(v).or_else(|| text::first_address(value))
}

/// The enhanced status code of a failure, from the status field and the diagnostic text.
pub(super) fn judge(status: Option<&str>, diagnostic: &str) -> Option<String> {
    let diag_enhanced = text::best_enhanced(diagnostic);
    let diag_smtp = text::smtp_codes(diagnostic).into_iter().next().map(|c| c.code);
    let mut code = status.map(str::to_string).filter(|s| s.starts_with('4') || s.starts_with('5'));
    if code.is_none() {
        code = diag_enhanced.clone();
    }
    // A Status field that is "other" (RFC 3463: X.0.0, or X.Y.0 "other or undefined" within a
    // subject) is refined by the remote server's own, more specific code of the same class.
    if let (Some(c), Some(d)) = (&code, &diag_enhanced)
        && d.get(..1) == c.get(..1)
        && d != c
        && (c.ends_with(".0.0") || (c.ends_with(".0") && !d.ends_with(".0")))
    {
        code = Some(d.clone());
    }
    if code.is_none() {
        code = diag_smtp.as_deref().and_then(|s| s.get(..1)).map(|class| format!("{class}.0.0"));
    }
    code
}
