//! Best-effort extraction of the return date from an out-of-office text: "back on March 12, 2026",
//! "until 12/03/2026", "bis 12.03.2026", "zurück am 12. März", "jusqu'au 12 mars", "hasta el 12 de
//! marzo", "fino al 12 marzo", "tot en met 12 maart", "até 12 de março", "3月12日まで", "back on Monday".
//!
//! Every date mention in the text is scored by the words in front of (or right after) it; the best
//! scoring one wins. Dates without a year take the year of the message's Date header (the next year
//! when that would put them in the past); weekday-only mentions are resolved relative to it as well.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(u32, usize),
    Word(String),
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn is_cjk(c: char) -> bool {
    ('\u{2E80}'..='\u{9FFF}').contains(&c)
        || ('\u{3040}'..='\u{30FF}').contains(&c)
        || ('\u{AC00}'..='\u{D7AF}').contains(&c)
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if c.is_ascii_digit() {
            let mut value: u32 = c.to_digit(10).unwrap_or(0);
            let mut digits = 1;
            let mut end = start + c.len_utf8();
            while let Some(&(i, d)) = chars.peek() {
                if !d.is_ascii_digit() {
                    break;
                }
                value = value.saturating_mul(10).saturating_add(d.to_digit(10).unwrap_or(0));
                digits += 1;
                end = i + d.len_utf8();
                chars.next();
            }
            out.push(Token { tok: Tok::Num(value, digits), start, end });
        } else if is_cjk(c) {
            out.push(Token { tok: Tok::Word(c.to_string()), start, end: start + c.len_utf8() });
        } else if c.is_alphabetic() {
            let mut word = String::new();
            word.push(c);
            let mut end = start + c.len_utf8();
            while let Some(&(i, d)) = chars.peek() {
                if !d.is_alphabetic() || is_cjk(d) {
                    break;
                }
                word.push(d);
                end = i + d.len_utf8();
                chars.next();
            }
            out.push(Token { tok: Tok::Word(word), start, end });
        } else {
            out.push(Token { tok: Tok::Punct(c), start, end: start + c.len_utf8() });
        }
    }
    out
}

fn month(word: &str) -> Option<u32> {
    let m = match word {
        "january" | "januar" | "jänner" | "janvier" | "enero" | "gennaio" | "januari" | "janeiro" | "jan" | "janv"
        | "ene" | "gen" => 1,
        "february" | "februar" | "février" | "fevrier" | "febrero" | "febbraio" | "februari" | "fevereiro" | "feb"
        | "févr" | "fev" => 2,
        "march" | "märz" | "maerz" | "mars" | "marzo" | "maart" | "março" | "marco" | "mar" | "mär" | "mrz" | "mrt" => {
            3
        }
        "april" | "avril" | "abril" | "aprile" | "apr" | "avr" | "abr" => 4,
        "may" | "mai" | "mayo" | "maggio" | "mei" | "maio" | "mag" => 5,
        "june" | "juni" | "juin" | "junio" | "giugno" | "junho" | "jun" | "giu" => 6,
        "july" | "juli" | "juillet" | "julio" | "luglio" | "julho" | "jul" | "juil" | "lug" => 7,
        "august" | "août" | "aout" | "agosto" | "augustus" | "aug" | "ago" => 8,
        "september" | "septembre" | "septiembre" | "setiembre" | "settembre" | "setembro" | "sep" | "sept" => 9,
        "october" | "oktober" | "octobre" | "octubre" | "ottobre" | "outubro" | "oct" | "okt" | "ott" => 10,
        "november" | "novembre" | "noviembre" | "novembro" | "nov" => 11,
        "december" | "dezember" | "décembre" | "decembre" | "diciembre" | "dicembre" | "dezembro" | "dec" | "dez"
        | "déc" | "dic" => 12,
        _ => return None,
    };
    Some(m)
}

fn weekday(word: &str) -> Option<Weekday> {
    let d = match word {
        "monday" | "montag" | "lundi" | "lunes" | "lunedì" | "lunedi" | "maandag" | "segunda" | "mon" => Weekday::Mon,
        "tuesday" | "dienstag" | "mardi" | "martes" | "martedì" | "martedi" | "dinsdag" | "terça" | "terca" | "tue"
        | "tues" => Weekday::Tue,
        "wednesday" | "mittwoch" | "mercredi" | "miércoles" | "miercoles" | "mercoledì" | "mercoledi" | "woensdag"
        | "quarta" | "wed" => Weekday::Wed,
        "thursday" | "donnerstag" | "jeudi" | "jueves" | "giovedì" | "giovedi" | "donderdag" | "quinta" | "thu"
        | "thur" | "thurs" => Weekday::Thu,
        "friday" | "freitag" | "vendredi" | "viernes" | "venerdì" | "venerdi" | "vrijdag" | "sexta" | "fri" => {
            Weekday::Fri
        }
        "saturday" | "samstag" | "sonnabend" | "samedi" | "sábado" | "sabado" | "sabato" | "zaterdag" | "sat" => {
            Weekday::Sat
        }
        "sunday" | "sonntag" | "dimanche" | "domingo" | "domenica" | "zondag" | "sun" => Weekday::Sun,
        _ => return None,
    };
    Some(d)
}

fn is_ordinal_suffix(word: &str) -> bool {
    matches!(word, "st" | "nd" | "rd" | "th" | "er" | "e" | "re" | "º" | "ª" | "o" | "a" | "de")
}

fn is_filler(word: &str) -> bool {
    matches!(
        word,
        "the"
            | "on"
            | "le"
            | "la"
            | "el"
            | "il"
            | "lo"
            | "l"
            | "den"
            | "dem"
            | "der"
            | "zum"
            | "einschließlich"
            | "inclusive"
            | "incl"
            | "inkl"
            | "op"
            | "em"
            | "o"
            | "dia"
            | "dí"
            | "día"
            | "am"
            | "ab"
            | "of"
            | "de"
            | "del"
            | "al"
    ) || weekday(word).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum When {
    Full(i32, u32, u32),
    NoYear(u32, u32),
    Day(Weekday),
}

#[derive(Debug, Clone)]
struct Mention {
    first: usize,
    last: usize,
    when: When,
}

fn num(tokens: &[Token], i: usize) -> Option<(u32, usize)> {
    match tokens.get(i).map(|t| &t.tok) {
        Some(Tok::Num(v, d)) => Some((*v, *d)),
        _ => None,
    }
}

fn word(tokens: &[Token], i: usize) -> Option<&str> {
    match tokens.get(i).map(|t| &t.tok) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    }
}

fn punct(tokens: &[Token], i: usize) -> Option<char> {
    match tokens.get(i).map(|t| &t.tok) {
        Some(Tok::Punct(c)) => Some(*c),
        _ => None,
    }
}

/// True when tokens `a` and `b` touch (no white space in between).
fn adjacent(tokens: &[Token], a: usize, b: usize) -> bool {
    match (tokens.get(a), tokens.get(b)) {
        (Some(x), Some(y)) => x.end == y.start,
        _ => false,
    }
}

fn year_of(v: u32, digits: usize) -> Option<i32> {
    let y = match digits {
        2 => 2000 + i32::try_from(v).ok()?,
        4 => i32::try_from(v).ok()?,
        _ => return None,
    };
    (1990..=2100).contains(&y).then_some(y)
}

/// Tries to read a date starting at token `i`.
fn date_at(tokens: &[Token], i: usize, us_order: bool) -> Option<Mention> {
    // Part of a longer dotted number (IP address, version)?
    if i >= 2
        && punct(tokens, i - 1).is_some_and(|c| c == '.' || c == '/')
        && adjacent(tokens, i - 1, i)
        && num(tokens, i - 2).is_some()
        && adjacent(tokens, i - 2, i - 1)
    {
        return None;
    }
    if let Some((a, da)) = num(tokens, i) {
        // ISO yyyy-mm-dd / yyyy/mm/dd / yyyy.mm.dd
        if da == 4 {
            if let (Some(sep), Some((m, _)), Some(sep2), Some((d, dd))) =
                (punct(tokens, i + 1), num(tokens, i + 2), punct(tokens, i + 3), num(tokens, i + 4))
                && sep == sep2
                && matches!(sep, '-' | '/' | '.')
                && dd <= 2
                && adjacent(tokens, i, i + 1)
            {
                let y = year_of(a, 4)?;
                return Some(Mention { first: i, last: i + 4, when: When::Full(y, m, d) });
            }
            // 2026年3月12日
            if word(tokens, i + 1) == Some("年")
                && let (Some((m, _)), Some("月"), Some((d, _)), Some("日")) =
                    (num(tokens, i + 2), word(tokens, i + 3), num(tokens, i + 4), word(tokens, i + 5))
            {
                let y = year_of(a, 4)?;
                return Some(Mention { first: i, last: i + 5, when: When::Full(y, m, d) });
            }
            return None;
        }
        if da > 2 {
            return None;
        }
        // 3月12日
        if word(tokens, i + 1) == Some("月")
            && let (Some((d, _)), Some("日")) = (num(tokens, i + 2), word(tokens, i + 3))
        {
            return Some(Mention { first: i, last: i + 3, when: When::NoYear(a, d) });
        }
        // Numeric d.m.y, d/m/y, m/d/y, d-m-y
        if let (Some(sep), Some((b, db))) = (punct(tokens, i + 1), num(tokens, i + 2))
            && matches!(sep, '.' | '/' | '-')
            && db <= 2
            && adjacent(tokens, i, i + 1)
            && adjacent(tokens, i + 1, i + 2)
        {
            let (day, mon) = if sep == '/' {
                if a > 12 {
                    (a, b)
                } else if b > 12 || us_order {
                    (b, a)
                } else {
                    (a, b)
                }
            } else {
                (a, b)
            };
            if let (Some(sep2), Some((y, dy))) = (punct(tokens, i + 3), num(tokens, i + 4))
                && sep2 == sep
                && adjacent(tokens, i + 2, i + 3)
                && adjacent(tokens, i + 3, i + 4)
            {
                let y = year_of(y, dy)?;
                return Some(Mention { first: i, last: i + 4, when: When::Full(y, mon, day) });
            }
            let trailing_dot = sep == '.' && punct(tokens, i + 3) == Some('.') && adjacent(tokens, i + 2, i + 3);
            if trailing_dot || sep == '/' {
                return Some(Mention { first: i, last: i + 2, when: When::NoYear(mon, day) });
            }
            return None;
        }
        // 12 March 2026, 12. März, 12th of March, 12 de marzo de 2026, 1er mars
        let mut j = i + 1;
        if punct(tokens, j) == Some('.') {
            j += 1;
        }
        if word(tokens, j).is_some_and(|w| is_ordinal_suffix(w) && month(w).is_none()) {
            j += 1;
            if punct(tokens, j) == Some('.') {
                j += 1;
            }
        }
        if word(tokens, j) == Some("of") || word(tokens, j) == Some("de") {
            j += 1;
        }
        if let Some(m) = word(tokens, j).and_then(month) {
            let mut k = j + 1;
            if punct(tokens, k) == Some('.') {
                k += 1;
            }
            if punct(tokens, k) == Some(',') {
                k += 1;
            }
            if word(tokens, k) == Some("de") || word(tokens, k) == Some("del") {
                k += 1;
            }
            if let Some((y, 4)) = num(tokens, k)
                && let Some(y) = year_of(y, 4)
            {
                return Some(Mention { first: i, last: k, when: When::Full(y, m, a) });
            }
            return Some(Mention { first: i, last: j, when: When::NoYear(m, a) });
        }
        return None;
    }
    let w = word(tokens, i)?;
    // March 12, 2026 / Mar. 12th
    if let Some(m) = month(w) {
        let mut j = i + 1;
        if punct(tokens, j) == Some('.') {
            j += 1;
        }
        let (d, dd) = num(tokens, j)?;
        if dd > 2 || punct(tokens, j + 1) == Some(':') {
            return None;
        }
        let mut k = j + 1;
        if word(tokens, k).is_some_and(is_ordinal_suffix) {
            k += 1;
        }
        if punct(tokens, k) == Some(',') {
            k += 1;
        }
        if let Some((y, 4)) = num(tokens, k)
            && let Some(y) = year_of(y, 4)
        {
            return Some(Mention { first: i, last: k, when: When::Full(y, m, d) });
        }
        return Some(Mention { first: i, last: j, when: When::NoYear(m, d) });
    }
    if let Some(wd) = weekday(w) {
        return Some(Mention { first: i, last: i, when: When::Day(wd) });
    }
    None
}

/// Words that announce the return (score 30) or the end of the absence (score 20). The number is how
/// many words may stand between the trigger and the date.
const RETURN_WORDS: &[&str] = &[
    "back",
    "return",
    "returning",
    "returns",
    "zurück",
    "zurueck",
    "wieder",
    "retour",
    "rentre",
    "rentrerai",
    "reviens",
    "reviendrai",
    "partir",
    "regreso",
    "regresaré",
    "regresare",
    "regresa",
    "vuelta",
    "vuelvo",
    "volveré",
    "volvere",
    "reincorporo",
    "rientro",
    "rientrerò",
    "rientrero",
    "ritorno",
    "tornerò",
    "tornero",
    "torno",
    "terug",
    "retorno",
    "retornarei",
    "volto",
    "voltarei",
    "regresso",
    "tillbaka",
    "tilbage",
    "tilbake",
    "available",
    "erreichbar",
    "disponible",
    "disponibile",
    "reachable",
];

const UNTIL_WORDS: &[&str] = &[
    "until",
    "till",
    "til",
    "through",
    "thru",
    "bis",
    "jusqu",
    "jusqu’au",
    "jusqu'au",
    "hasta",
    "fino",
    "tot",
    "até",
    "ate",
    "including",
    "einschließlich",
    "einschliesslich",
];

const UNTIL_NEAR: &[&str] = &["to", "au", "al", "a", "and"];

const AFTER_RETURN: &[&str] = &["wieder", "zurück", "back", "again", "retour", "erreichbar", "戻", "出"];

fn score(tokens: &[Token], mentions: &[Mention], idx: usize) -> i32 {
    let Some(m) = mentions.get(idx) else { return 0 };
    // Range "X - Y": the end of the range.
    if m.first >= 2
        && let Some(c) = punct(tokens, m.first - 1)
        && matches!(c, '-' | '–' | '—')
        && mentions.iter().any(|p| p.last + 2 == m.first)
    {
        return 20;
    }
    // Walk back over at most six words, stopping at the end of a sentence.
    let mut words: Vec<&str> = Vec::new();
    let mut k = m.first;
    let mut counted = 0;
    let floor = m.first.saturating_sub(40);
    while k > floor && counted < 6 {
        k -= 1;
        match tokens.get(k).map(|t| &t.tok) {
            Some(Tok::Punct('!' | '?' | ';')) => break,
            Some(Tok::Punct('.')) if k > 0 && word(tokens, k - 1).is_some_and(|w| w.chars().count() > 3) => break,
            Some(Tok::Word(w)) => {
                words.push(w.as_str());
                if !is_filler(w) {
                    counted += 1;
                }
            }
            _ => {}
        }
    }
    let mut best = 0;
    // Dutch "t/m" (tot en met).
    if words.first() == Some(&"m") && words.get(1) == Some(&"t") {
        best = 20;
    }
    let mut distance = 0;
    for w in &words {
        if RETURN_WORDS.contains(w) {
            best = best.max(30);
        } else if UNTIL_WORDS.contains(w) || (UNTIL_NEAR.contains(w) && distance == 0) {
            best = best.max(20);
        }
        if !is_filler(w) {
            distance += 1;
        }
    }
    if best > 0 {
        return best;
    }
    // Words right after the date: "ab dem 12.03. wieder im Büro", "3月12日まで", "3月12日に戻ります".
    let after: Vec<&str> = (m.last + 1..m.last + 6).filter_map(|t| word(tokens, t)).collect();
    if after.first() == Some(&"ま") && after.get(1) == Some(&"で") {
        return 20;
    }
    if after.iter().take(4).any(|w| AFTER_RETURN.contains(w)) {
        return 25;
    }
    if words.first() == Some(&"ab") {
        return 10;
    }
    0
}

fn resolve(when: When, reference: Option<NaiveDate>) -> Option<NaiveDate> {
    match when {
        When::Full(y, m, d) => NaiveDate::from_ymd_opt(y, m, d),
        When::NoYear(m, d) => {
            let r = reference?;
            let this_year = NaiveDate::from_ymd_opt(r.year(), m, d)?;
            if this_year + Duration::days(7) < r {
                NaiveDate::from_ymd_opt(r.year() + 1, m, d)
            } else {
                Some(this_year)
            }
        }
        When::Day(wd) => {
            let r = reference?;
            let ahead = (7 + i64::from(wd.num_days_from_monday()) - i64::from(r.weekday().num_days_from_monday())) % 7;
            Some(r + Duration::days(if ahead == 0 { 7 } else { ahead }))
        }
    }
}

/// The return date announced in `text` (lowercase or not), relative to the message date `reference`.
pub(crate) fn return_date(text: &str, reference: Option<NaiveDate>) -> Option<NaiveDate> {
    let lower = text.to_lowercase();
    let tokens = tokenize(&lower);
    let us_order = lower.contains("until") || lower.contains("back on") || lower.contains("return");
    let mut mentions: Vec<Mention> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match date_at(&tokens, i, us_order) {
            Some(m) => {
                // "Monday, March 12": the weekday belongs to the date that follows.
                if let When::Day(_) = m.when {
                    let mut j = i + 1;
                    while punct(&tokens, j).is_some_and(|c| c == ',' || c == '.')
                        || word(&tokens, j).is_some_and(|w| matches!(w, "the" | "den" | "le" | "el" | "il"))
                    {
                        j += 1;
                    }
                    if date_at(&tokens, j, us_order).is_some_and(|n| !matches!(n.when, When::Day(_))) {
                        i = j;
                        continue;
                    }
                }
                i = m.last + 1;
                mentions.push(m);
            }
            None => i += 1,
        }
    }

    let mut best: Option<(i32, NaiveDate)> = None;
    let mut latest: Option<NaiveDate> = None;
    for (idx, m) in mentions.iter().enumerate() {
        let Some(date) = resolve(m.when, reference) else { continue };
        let s = score(&tokens, &mentions, idx);
        if !matches!(m.when, When::Day(_)) {
            latest = latest.max(Some(date));
        }
        if s > 0 && best.is_none_or(|(b, _)| s > b) {
            best = Some((s, date));
        }
    }
    if let Some((_, d)) = best {
        return Some(d);
    }
    // No announcing words: a single future date in an out-of-office text is the return date.
    match (latest, reference) {
        (Some(l), Some(r)) if l >= r => Some(l),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, day)
    }

    #[test]
    fn formats() {
        let r = d(2026, 3, 2);
        assert_eq!(return_date("Ich bin bis 12.03.2026 nicht im Büro.", r), d(2026, 3, 12));
        assert_eq!(return_date("I will be back on March 12, 2026.", r), d(2026, 3, 12));
        assert_eq!(return_date("I am out of the office until 03/12/2026.", r), d(2026, 3, 12));
        assert_eq!(return_date("Je serai de retour le 12 mars 2026.", r), d(2026, 3, 12));
        assert_eq!(return_date("Estaré fuera hasta el 12 de marzo de 2026.", r), d(2026, 3, 12));
        assert_eq!(return_date("Sarò fuori ufficio fino al 12 marzo.", r), d(2026, 3, 12));
        assert_eq!(return_date("Ik ben afwezig tot en met 12 maart 2026.", r), d(2026, 3, 12));
        assert_eq!(return_date("Estarei ausente até 12 de março de 2026.", r), d(2026, 3, 12));
        assert_eq!(return_date("Zurück am 12. März.", r), d(2026, 3, 12));
        assert_eq!(return_date("Vom 01.03. - 12.03.2026 bin ich im Urlaub.", r), d(2026, 3, 12));
        assert_eq!(return_date("Ab dem 12.03. bin ich wieder erreichbar.", r), d(2026, 3, 12));
        assert_eq!(return_date("3月12日まで不在にしております。", r), d(2026, 3, 12));
        assert_eq!(return_date("I'm out from March 1 until March 10 and back on March 12th.", r), d(2026, 3, 12));
        assert_eq!(return_date("I'll be back on Monday, March 12, 2026", r), d(2026, 3, 12));
        assert_eq!(return_date("Back on 2026-03-12", r), d(2026, 3, 12));
        // 2 March 2026 is a Monday; "back on Thursday" is the 5th.
        assert_eq!(return_date("I am away and back on Thursday.", r), d(2026, 3, 5));
        // Year rolls over.
        assert_eq!(return_date("back on 5 January", d(2025, 12, 20)), d(2026, 1, 5));
        assert_eq!(return_date("Thanks for your message.", r), None);
        assert_eq!(return_date("Server 192.168.1.12 v1.2.3", r), None);
        assert_eq!(return_date("until 12.03.", None), None);
    }
}
