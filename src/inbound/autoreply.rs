//! Automatic replies: RFC 3834 `Auto-Submitted`, the vendor headers (X-Autoreply, X-Autorespond,
//! X-Auto-Response-Suppress, Precedence) and out-of-office subjects and texts in common languages.

use super::mime::Mail;
use super::text;

/// Subject hints that may stand anywhere in the subject (lowercased).
const SUBJECT_STRONG: &[&str] = &[
    "out of office",
    "out of the office",
    "out-of-office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "automated response",
    "automatic response",
    "i am away",
    "i'm away",
    "away from the office",
    "away from office",
    "vacation reply",
    "on vacation",
    "on holiday",
    "on leave",
    "abwesenheitsnotiz",
    "automatische antwort",
    "abwesenheit",
    "nicht im büro",
    "außer haus",
    "réponse automatique",
    "reponse automatique",
    "absent du bureau",
    "respuesta automática",
    "respuesta automatica",
    "fuera de la oficina",
    "risposta automatica",
    "fuori ufficio",
    "fuori sede",
    "automatisch antwoord",
    "niet aanwezig",
    "resposta automática",
    "resposta automatica",
    "fora do escritório",
    "ausência",
    "autosvar",
    "automatisk svar",
    "automaattinen vastaus",
    "automatyczna odpowiedź",
    "automatická odpověď",
    "automatikus válasz",
    "răspuns automat",
    "автоматический ответ",
    "автоответ",
    "otomatik yanıt",
    "αυτόματη απάντηση",
    "自動応答",
    "自動返信",
    "自动回复",
    "不在通知",
    "자동 응답",
];

/// Subject prefixes of automatic replies (lowercased).
const SUBJECT_PREFIXES: &[&str] = &["auto:", "automatic:", "away:", "ooo:", "ooo ", "ooo]", "ooo)", "autosvar:"];

/// Subject hints that must open the subject (lowercased) and be followed by a colon, a date range or
/// nothing: short words people also use otherwise.
const SUBJECT_LEADING: &[&str] = &[
    "absence",
    "absent",
    "abwesend",
    "afwezig",
    "ausente",
    "assente",
    "不在",
    "vacation",
    "holiday",
    "urlaub",
    "congés",
    "vacaciones",
    "ferie",
    "vakantie",
    "férias",
];

/// Out-of-office phrases in a message text (lowercased, white space collapsed).
const BODY_HINTS: &[&str] = &[
    "out of the office",
    "out of office",
    "out-of-office",
    "on vacation",
    "on holiday",
    "on annual leave",
    "on leave until",
    "on parental leave",
    "on maternity leave",
    "away from the office",
    "away from my desk",
    "currently away",
    "i am away",
    "i'm away",
    "i am currently out",
    "i'm currently out",
    "limited access to e-mail",
    "limited access to email",
    "no access to e-mail",
    "no access to email",
    "this is an automatic reply",
    "this is an automated reply",
    "this is an automated response",
    "this is an auto-reply",
    "this is an autoreply",
    "automatic reply",
    "nicht im büro",
    "außer haus",
    "ausser haus",
    "im urlaub",
    "abwesend",
    "keinen zugriff auf meine e-mails",
    "automatische antwort",
    "absent du bureau",
    "absente du bureau",
    "en congés",
    "en vacances",
    "réponse automatique",
    "fuera de la oficina",
    "de vacaciones",
    "respuesta automática",
    "fuori ufficio",
    "in ferie",
    "risposta automatica",
    "niet op kantoor",
    "afwezig",
    "met vakantie",
    "automatisch antwoord",
    "fora do escritório",
    "de férias",
    "resposta automática",
    "不在にしております",
    "不在です",
    "自動応答",
    "自動返信",
];

/// Opening sentences that only automatic replies use (lowercased, white space collapsed).
const BODY_STRONG: &[&str] = &[
    "this is an automatic reply",
    "this is an automated reply",
    "this is an auto-reply",
    "this is an autoreply",
    "this is an automatic response",
    "this is an automated response",
    "this is an automatically generated",
    "this message was automatically generated",
    "this is an automatic message",
    "this is an automated message",
    "dies ist eine automatische antwort",
    "dies ist eine automatisch generierte",
    "diese nachricht wurde automatisch",
    "ceci est une réponse automatique",
    "ceci est un message automatique",
    "esta es una respuesta automática",
    "este es un mensaje automático",
    "questa è una risposta automatica",
    "questo è un messaggio automatico",
    "dit is een automatisch antwoord",
    "dit is een automatisch gegenereerd",
    "esta é uma resposta automática",
    "esta é uma mensagem automática",
    "detta är ett automatiskt svar",
    "dette er et automatisk svar",
    "これは自動応答",
    "このメールは自動",
];

fn header_is(mail: &Mail, name: &str) -> Option<String> {
    mail.top.get(name).map(|v| v.trim().to_ascii_lowercase())
}

/// True when the message is an automatic reply (not a delivery report; that is decided before).
pub(crate) fn is_auto_reply(mail: &Mail, own_text: &str) -> bool {
    let listy = mail.top.has("list-id") || mail.top.has("list-unsubscribe") || mail.top.has("list-post");
    let auto_submitted = header_is(mail, "auto-submitted").is_some_and(|v| {
        let token = v.split([';', ' ', '(']).next().unwrap_or("").trim().to_string();
        // Auto-generated list mail (notifications, newsletters) is not an answer to us.
        !token.is_empty() && token != "no" && !(listy && token == "auto-generated")
    });
    let vendor =
        ["x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-reply", "x-autoreply-from", "x-mail-autoreply"]
            .iter()
            .any(|h| header_is(mail, h).is_some_and(|v| v != "no" && v != "false" && v != "0"));
    let precedence = header_is(mail, "precedence").unwrap_or_default();
    let precedence_auto = precedence.starts_with("auto_reply") || precedence.starts_with("auto-reply");
    let precedence_bulk = precedence.starts_with("bulk") || precedence.starts_with("junk");
    let mailer = [header_is(mail, "x-mailer"), header_is(mail, "user-agent")]
        .into_iter()
        .flatten()
        .any(|m| text::contains_any(&m, &["vacation", "autorespond", "auto-reply", "autoreply", "out of office"]));
    let suppress = mail.top.has("x-auto-response-suppress");
    let inbox_rules = mail.top.has("x-ms-exchange-inbox-rules-loop");
    let null_sender = super::bounce::null_sender(&mail.top);

    let subject = mail.top.subject.as_deref().map(text::squash).unwrap_or_default();
    let subject_hint = subject_hint(&subject);
    let body = text::squash(text::truncate(own_text, 2000));
    let body_hint = text::contains_any(&body, BODY_HINTS);

    let body_start = text::truncate(&body, 600);
    if auto_submitted
        || vendor
        || precedence_auto
        || mailer
        || subject_hint
        || text::contains_any(body_start, BODY_STRONG)
    {
        return true;
    }
    if precedence_bulk && !listy {
        return true;
    }
    (suppress || inbox_rules || null_sender) && body_hint
}

fn subject_hint(subject: &str) -> bool {
    let s = subject.trim_start_matches(['[', '(', ' ']);
    if reply_or_forward(s) {
        return false;
    }
    text::contains_any(subject, SUBJECT_STRONG)
        || SUBJECT_PREFIXES.iter().any(|p| s.starts_with(p))
        || SUBJECT_LEADING.iter().any(|p| s.strip_prefix(p).is_some_and(leading_word_ends))
}

/// After a leading out-of-office word ("Absence", "Urlaub"), the subject must end or go on the way
/// automatic subjects do ("Absence: <subject>", "Urlaub bis 12.03.") rather than like a sentence.
fn leading_word_ends(rest: &str) -> bool {
    let rest = rest.trim_start();
    rest.is_empty()
        || rest.starts_with([':', '-', '–', '(', '[', '/', '|', ','])
        || [
            "until",
            "till",
            "bis",
            "jusqu",
            "hasta",
            "fino",
            "tot",
            "até",
            "from",
            "vom",
            "du ",
            "del ",
            "dal ",
            "notice",
            "reply",
            "message",
            "notification",
            "notiz",
            "nachricht",
            "re:",
            "aw:",
        ]
        .iter()
        .any(|w| rest.starts_with(w))
}

fn reply_or_forward(s: &str) -> bool {
    ["re:", "re :", "aw:", "sv:", "fw:", "fwd:", "wg:", "tr:", "rv:", "r:", "antw:"].iter().any(|p| s.starts_with(p))
}
