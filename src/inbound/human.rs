//! Messages written by people: the new text of a reply (quotes cut off), unsubscribe requests.

use super::mime::Mail;
use super::text;

/// Lines that start the quoted original in a reply (lowercased, trimmed).
const SEPARATOR_PREFIXES: &[&str] = &[
    "-----original message-----",
    "----- original message -----",
    "-------- original message",
    "--- original message",
    "-----ursprüngliche nachricht-----",
    "-----ursprungliche nachricht-----",
    "-----message d'origine-----",
    "-------- message original",
    "-----mensaje original-----",
    "-----messaggio originale-----",
    "-----oorspronkelijk bericht-----",
    "-----mensagem original-----",
    "-----opprinnelig melding-----",
    "-----ursprungligt meddelande-----",
    "begin forwarded message",
    "---------- forwarded message",
    "-------- weitergeleitete nachricht",
    "________________________________",
];

/// Endings of "On <date>, <name> wrote:" lines in common languages.
const WROTE_SUFFIXES: &[&str] = &[
    "wrote:",
    "schrieb:",
    "a écrit :",
    "a écrit:",
    "escribió:",
    "ha scritto:",
    "schreef:",
    "escreveu:",
    "skrev:",
    "kirjoitti:",
    "napisał:",
    "написал:",
    "написала:",
    "のメッセージ:",
    "写道：",
    "写道:",
];

fn is_separator(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    if SEPARATOR_PREFIXES.iter().any(|p| l.starts_with(p)) {
        return true;
    }
    if WROTE_SUFFIXES.iter().any(|s| l.ends_with(s)) {
        return true;
    }
    // Outlook's quoted header block: "From: ..." (also Von:, De :, Da:, Van:).
    ["from:", "von:", "de :", "de:", "da:", "van:", "från:", "fra:", "od:"].iter().any(|p| l.starts_with(p))
        && l.len() < 200
}

/// The new text of the message body: the first text part up to the quoted original, without `>` lines.
pub(crate) fn own_text(mail: &Mail) -> String {
    let Some(body) = mail.body_text() else { return String::new() };
    let mut out = String::new();
    for line in text::truncate(body, 64 * 1024).lines() {
        if is_separator(line) {
            break;
        }
        if line.trim_start().starts_with('>') {
            continue;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

const UNSUBSCRIBE_PHRASES: &[&str] = &[
    // English
    "unsubscribe",
    "un-subscribe",
    "remove me",
    "remove my email",
    "remove my e-mail",
    "remove my address",
    "remove us from",
    "remove from your list",
    "remove from your mailing",
    "take me off",
    "take us off",
    "off your list",
    "off your mailing list",
    "stop emailing",
    "stop e-mailing",
    "stop sending me",
    "stop sending us",
    "stop contacting",
    "stop mailing",
    "stop spamming",
    "don't email me",
    "do not email me",
    "don't e-mail me",
    "do not e-mail me",
    "don't contact me",
    "do not contact me",
    "don't contact us",
    "do not contact us",
    "opt out",
    "opt-out",
    "optout",
    "no more emails",
    "no more e-mails",
    "delete my email",
    "delete my address",
    "delete me from",
    // German
    "abmelden",
    "abbestellen",
    "austragen",
    "keine weiteren e-mails",
    "keine weiteren mails",
    "keine e-mails mehr",
    "keine mails mehr",
    "nicht mehr kontaktieren",
    "nicht mehr anschreiben",
    "entfernen sie mich",
    "löschen sie mich",
    "aus ihrem verteiler",
    "aus dem verteiler",
    // French
    "désabonner",
    "desabonner",
    "désinscrire",
    "desinscrire",
    "désinscription",
    "desinscription",
    "désabonnement",
    "desabonnement",
    "retirez-moi",
    "retirez moi",
    "supprimez-moi",
    "ne plus recevoir",
    "ne m'envoyez plus",
    // Spanish
    "darme de baja",
    "dar de baja",
    "dadme de baja",
    "denme de baja",
    "den de baja",
    "eliminarme de",
    "elimínenme",
    "eliminenme",
    "no me envíen",
    "no me envien",
    "no quiero recibir",
    "dejar de recibir",
    "cancelar suscripción",
    "cancelar mi suscripción",
    "desuscribir",
    // Italian
    "disiscrivi",
    "disiscrivermi",
    "cancellami",
    "cancellatemi",
    "rimuovimi",
    "rimuovetemi",
    "non voglio più ricevere",
    "non inviatemi",
    "annulla iscrizione",
    // Dutch
    "afmelden",
    "uitschrijven",
    "verwijder mij",
    "verwijder me",
    "geen e-mails meer",
    "geen mails meer",
    // Portuguese
    "descadastrar",
    "descadastre",
    "remover meu e-mail",
    "remover meu email",
    "cancelar inscrição",
    "não quero receber",
    "nao quero receber",
    "parar de receber",
    "me remova",
    "remova-me",
    // Nordic, Polish
    "avregistrera",
    "avsluta prenumeration",
    "avmeld",
    "afmeld",
    "wypisz mnie",
    "配信停止",
    "退订",
];

/// Whole-line requests (the subject or the first line is nothing but this).
const UNSUBSCRIBE_WORDS: &[&str] =
    &["stop", "stopp", "remove", "remove me", "opt out", "optout", "baja", "unsubscribe me", "abmelden", "désabonner"];

fn is_unsubscribe_word(line: &str) -> bool {
    let l = text::squash(line);
    let l = l.trim_matches(|c: char| !c.is_alphanumeric());
    UNSUBSCRIBE_WORDS.contains(&l)
}

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "dear",
    "hallo",
    "guten tag",
    "moin",
    "servus",
    "bonjour",
    "salut",
    "hola",
    "buenos días",
    "buongiorno",
    "ciao",
    "goedendag",
    "goedemorgen",
    "olá",
    "ola",
    "bom dia",
    "hej",
    "good morning",
    "good afternoon",
];

fn is_greeting(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    l.chars().count() <= 40 && (l.ends_with(',') || GREETINGS.iter().any(|g| l.starts_with(g)) && !l.contains('.'))
}

/// Removes reply/forward prefixes ("Re: AW: Fwd:") from a subject.
pub(crate) fn strip_prefixes(subject: &str) -> (&str, bool) {
    let mut s = subject.trim();
    let mut stripped = false;
    loop {
        let lower = s.to_lowercase();
        let hit = [
            "re:", "re :", "aw:", "sv:", "vs:", "r:", "rif:", "ref:", "antw:", "odp:", "fw:", "fwd:", "wg:", "tr:",
            "rv:", "enc:",
        ]
        .iter()
        .find(|p| lower.starts_with(*p));
        match hit {
            Some(p) if lower.len() == s.len() => {
                s = s.get(p.len()..).unwrap_or("").trim_start();
                stripped = true;
            }
            _ => return (s, stripped),
        }
    }
}

/// True when a person asks to be removed, in the subject or the first line of their text.
pub(crate) fn is_unsubscribe(subject: Option<&str>, own_text: &str) -> bool {
    if let Some(subject) = subject {
        let (rest, was_reply) = strip_prefixes(subject);
        let rest = text::squash(rest);
        let hit = if was_reply {
            UNSUBSCRIBE_PHRASES.iter().any(|p| rest.starts_with(p))
        } else {
            text::contains_any(&rest, UNSUBSCRIBE_PHRASES)
        } || is_unsubscribe_word(&rest);
        if hit {
            return true;
        }
    }
    let mut lines = own_text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.by_ref().find(|l| !is_greeting(l));
    if let Some(first) = first
        && (text::contains_any(&text::squash(first), UNSUBSCRIBE_PHRASES) || is_unsubscribe_word(first))
    {
        return true;
    }
    // A very short message: look at all of it.
    let all = text::squash(own_text);
    all.chars().count() <= 160 && text::contains_any(&all, UNSUBSCRIBE_PHRASES)
}
