//! Target `cadence_files`: `Cadence::parse` on generated, mutated and
//! shipped cadence files; on success `plan::timeline` for random starts,
//! zones and calendars, and `Templates::render` with random fields.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cadenced::cadence::{Cadence, Fields};
use cadenced::config::Config;
use cadenced::core::plan;
use cadenced::model::LeadTime;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;

use super::cron_exprs::cron;
use super::generators::{email, good_email, instant, maybe, oddly, one_of, text, weighted, zone};
use super::mutations::{mutate_text, text_op, token_soup};
use super::templates::{JINJA_VARS, jinja};
use super::toml_writer::{basic, keyed, qstr, render_doc, tstr, unknown_entries};
use super::{check_located, fuzz};

pub(super) const CADENCE_CONFIG: &str =
    "[mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"o\"\n[calendars.us]\nholidays = [\"2026-11-26\"]\n";

/// A second config: two mailboxes (so `mailbox` is required), more calendars.
pub(super) const CADENCE_CONFIG_2: &str = "timezone = \"America/New_York\"\ncalendar = \"us\"\n\
[mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"o\"\nowner = \"rep@seller.test\"\n\
[mailboxes.other]\nfrom = \"b@seller.test\"\noutbox = \"o2\"\n\
[calendars.us]\nholidays = [\"2026-11-26\", \"2026-12-25\"]\n\
[calendars.de]\nworkdays = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\"]\nholidays = [\"2026-12-24\"]\n\
[calendars.weekend]\nworkdays = [\"Sat\", \"Sun\"]\n";

/// Cadence files beside the shipped ones: every key of the format.
const CADENCE_SEEDS: &[&str] = &[
    r#"description = "All keys"
mailbox = "sales"
window = "0 30 9 * * Mon-Fri"
calendar = "us"
late_after = "2d"
owner = "rep@seller.test"
on_uncertain = "hold"
stop_on = ["reply", "bounce"]

[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Hi {{ first_name | default('there') }}"
body = """
{% if company %}About {{ company | upper }}{% else %}Hello{% endif %}
{% for c in first_name %}{{ c }}{% endfor %}
"""

[[steps]]
id = "call-1"
wait = "2bd"
kind = "call"
blocking = false
auto_skip_after = "1bd"
body = "Call {{ phone | default('no phone') }}"

[[steps]]
id = "task_1"
wait = "90m"
kind = "task"
template = "tpl/ok.md"

[[steps]]
id = "linkedin"
wait = "1w"
kind = "linkedin"
body = 'Connect with {{ email }}'
"#,
    "window = \"0 0 0 31 2 *\"\n[[steps]]\nid = \"a\"\nwait = \"99999999999999d\"\nkind = \"email\"\nsubject = \"{{\"\nbody = \"{% for %}\"\n",
    "[[steps]]\nid = \"only\"\nwait = \"3650d\"\nkind = \"task\"\nbody = \"{{ x }}\"\nauto_skip_after = \"3650bd\"\n",
    "window = \"0 */15 0-23 * * *\"\nlate_after = \"1m\"\n[[steps]]\nid = \"e\"\nwait = \"521w\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n",
];

const WAIT_NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3650",
    "3651",
    "521",
    "522",
    "87600",
    "87601",
    "5256000",
    "5256001",
    "4294967295",
    "4294967296",
    "99999999999999",
    "99999999999999999999999",
    "1.5",
    "1e3",
    "",
    "٣",
    "00",
];
const WAIT_UNITS: &[&str] = &["m", "h", "d", "w", "bd", "", "D", "BD", "b", "s", "y", "bdd", "d ", "mo", "µ", "d\0"];

/// A step wait; with `odd`, also huge, negative, unitless, odd units.
fn wait(odd: bool) -> BoxedStrategy<String> {
    let good = prop_oneof![
        20 => (0u32..12, select(&["m", "h", "d", "w", "bd"][..])).prop_map(|(n, u)| format!("{n}{u}")),
        1 => select(&["3650d", "521w", "87600h", "5256000m", "3650bd", "0m"][..]).prop_map(str::to_string),
    ];
    if !odd {
        return good.boxed();
    }
    prop_oneof![
        4 => good,
        3 => (
            select(&["", "", "", " ", "-", "+", "0"][..]),
            select(WAIT_NUMBERS),
            select(WAIT_UNITS),
            select(&["", "", " ", "\n"][..]),
        )
            .prop_map(|(a, b, c, d)| format!("{a}{b}{c}{d}")),
        1 => text(),
    ]
    .boxed()
}

const TEMPLATE_PATHS: &[&str] = &[
    "tpl/ok.md",
    "tpl/broken.md",
    "tpl/bin.md",
    "tpl/big.md",
    "tpl/selfinclude.md",
    "tpl/empty.md",
    "tpl",
    "tpl/missing.md",
    "",
    ".",
    "./tpl/ok.md",
    "tpl//ok.md",
    "tpl/no\nsuch.md",
    "tpl/no\rsuch.md",
];

/// Template files a cadence's `template = "..."` may name, relative to it.
fn write_template_files(dir: &Path) {
    let tpl = dir.join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::write(tpl.join("ok.md"), "Hi {{ first_name }},\n\nsee {{ company | default('you') }}.\n").unwrap();
    std::fs::write(tpl.join("broken.md"), "line 1\nline 2 {% if x %}\nline 3 {{ x |\n").unwrap();
    std::fs::write(tpl.join("bin.md"), b"\xff\xfe{{ x }}\x00\x80").unwrap();
    std::fs::write(tpl.join("big.md"), "{{ first_name }} and more text\n".repeat(5000)).unwrap();
    std::fs::write(tpl.join("selfinclude.md"), "{% include 'task_1.body' %}{% include 'intro.body' %}").unwrap();
    std::fs::write(tpl.join("empty.md"), "").unwrap();
}

const CADENCE_FILE_NAMES: &[&str] =
    &["fuzz.toml", "seven-touch.toml", "bad name.toml", "ünï.toml", ".toml", "x.y.toml", "fuzz", "a_b-C9.toml"];

/// A cadence file from its parts: top-level keys, then `[[steps]]` tables.
/// Without `odd` every value is well-formed (many such files load and reach
/// the planner); with `odd` any value may be wrong.
fn cadence_doc(odd: bool) -> BoxedStrategy<String> {
    let top = vec![
        keyed("description", 0.5, qstr(text(), odd), odd),
        keyed("mailbox", 0.6, qstr(one_of(&["sales"], &["other", "", " sales", "SALES"], odd), odd), odd),
        keyed("window", 0.6, qstr(cron(odd), odd), odd),
        keyed("calendar", 0.3, qstr(one_of(&["us", "de", "weekend"], &["", "US", "nope"], odd), odd), odd),
        keyed("late_after", 0.3, qstr(wait(odd), odd), odd),
        keyed("owner", 0.3, qstr(if odd { email() } else { good_email() }, odd), odd),
        keyed("on_uncertain", 0.2, qstr(one_of(&["continue", "hold"], &["Hold", "", "stop"], odd), odd), odd),
        keyed(
            "stop_on",
            0.3,
            vec(one_of(&["reply", "bounce", "unsubscribe"], &["spam", "", "Reply"], odd), 0..5)
                .prop_map(|v| format!("[{}]", v.iter().map(|s| basic(s, false)).collect::<Vec<_>>().join(", ")))
                .boxed(),
            odd,
        ),
    ];
    let odd_weight = u32::from(odd);
    let kinds = weighted(vec![
        (10, select(&["email", "email", "email", "call", "linkedin", "task"][..]).boxed()),
        (odd_weight, select(&["Email", "sms", ""][..]).boxed()),
    ]);
    let step = kinds.prop_flat_map(move |kind| {
        let email = kind == "email";
        let header = weighted(vec![
            (10, Just("[[steps]]").boxed()),
            (
                odd_weight,
                select(&["[steps]", "[[ steps ]]", "[[steps.x]]", "[[step]]", "[[steps]", "steps = []"][..]).boxed(),
            ),
        ]);
        let id = weighted(vec![
            (20, "[a-z][a-z0-9_-]{0,12}".boxed()),
            (
                6,
                select(&["intro", "bump-1", "call_1", "task_1", "linkedin", "case-study", "breakup"][..])
                    .prop_map(str::to_string)
                    .boxed(),
            ),
            (
                odd_weight,
                select(&["", "a b", "ü", "intro.body", "x.subject", "-", "_"][..]).prop_map(str::to_string).boxed(),
            ),
            (odd_weight, (1usize..300).prop_map(|n| "x".repeat(n)).boxed()),
            (odd_weight, text()),
        ]);
        let present = if odd { 0.97 } else { 1.0 };
        let good_templates: &'static [&'static str] = &["tpl/ok.md", "tpl/big.md", "tpl/empty.md", "./tpl/ok.md"];
        let templates = if odd { TEMPLATE_PATHS } else { good_templates };
        let manual = if email { 0.02 * oddly(odd) } else { 0.3 };
        let lines = vec![
            keyed("id", present, qstr(id, odd), odd),
            keyed("wait", present, qstr(wait(odd), odd), odd),
            maybe(present, Just(kind)).prop_map(|k| k.map(|k| format!("kind = {}", basic(k, false)))).boxed(),
            keyed("subject", if email { present } else { 0.03 * oddly(odd) }, qstr(jinja(odd), odd), odd),
            keyed("blocking", manual, select(&["true", "false"][..]).prop_map(str::to_string).boxed(), odd),
            keyed("auto_skip_after", manual, qstr(wait(odd), odd), odd),
            // A body or a template file; with `odd`, sometimes both or neither.
            weighted(vec![
                (20, qstr(jinja(odd), odd).prop_map(|b| Some(format!("body = {b}"))).boxed()),
                (2, select(templates).prop_map(|t| Some(format!("template = {}", basic(t, false)))).boxed()),
                (
                    odd_weight,
                    (tstr(jinja(odd)), select(TEMPLATE_PATHS))
                        .prop_map(|(b, t)| Some(format!("body = {b}\ntemplate = {}", basic(t, false))))
                        .boxed(),
                ),
                (odd_weight, Just(None).boxed()),
            ]),
        ];
        (header, lines, unknown_entries(odd)).prop_map(|(h, mut lines, extra)| {
            lines.extend(extra.into_iter().map(Some));
            (h.to_string(), lines)
        })
    });
    let steps = weighted(vec![(odd_weight, Just(0usize..1).boxed()), (20, Just(1usize..7).boxed())])
        .prop_flat_map(move |n| vec(step.clone(), n));
    (top, unknown_entries(odd), steps, any::<bool>())
        .prop_map(|(mut top, extra, steps, crlf)| {
            top.extend(extra.into_iter().map(Some));
            let mut sections = vec![(String::new(), top)];
            sections.extend(steps);
            render_doc(&sections, crlf)
        })
        .boxed()
}

/// The cadence files in `cadences/` (read now: others may edit them) and the seeds above.
fn cadence_seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cadences");
    let mut seeds: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            files.sort();
            files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect()
        })
        .unwrap_or_default();
    seeds.extend(CADENCE_SEEDS.iter().map(|s| s.to_string()));
    seeds
}

#[derive(Debug, Clone)]
struct CadenceCase {
    config: usize,
    file: &'static str,
    source: String,
    /// (start, zone) pairs for `plan::timeline`.
    leads: Vec<(DateTime<Utc>, Tz)>,
    /// Fields for `render`, and values to give every variable the templates use.
    fields: Fields,
    values: Vec<String>,
}

fn cadence_case(seeds: Arc<Vec<String>>) -> BoxedStrategy<CadenceCase> {
    let n = seeds.len();
    let mutated_seed =
        (any::<Index>(), vec(text_op(), 1..6)).prop_map(move |(i, ops)| mutate_text(&seeds[i.index(n)], &ops));
    let source = prop_oneof![
        1 => ".{0,200}",
        1 => any::<String>(),
        2 => token_soup(),
        8 => cadence_doc(false),
        3 => cadence_doc(true),
        3 => (cadence_doc(false), vec(text_op(), 1..4)).prop_map(|(s, ops)| mutate_text(&s, &ops)),
        3 => mutated_seed,
    ];
    let field_key = prop_oneof![3 => select(JINJA_VARS).prop_map(str::to_string), 1 => "[a-z_]{1,8}", 1 => text()];
    (
        0usize..2,
        prop_oneof![4 => Just("fuzz.toml"), 1 => select(CADENCE_FILE_NAMES)],
        source,
        vec((instant(), zone()), 1..3),
        btree_map(field_key, text(), 0..6),
        vec(text(), 1..4),
    )
        .prop_map(|(config, file, source, leads, fields, values)| CadenceCase {
            config,
            file,
            source,
            leads,
            fields,
            values,
        })
        .boxed()
}

/// Everything the daemon does with a cadence that loaded: plan timelines, render each step.
fn exercise_cadence(cadence: &Cadence, config: &Config, case: &CadenceCase) -> Result<(), TestCaseError> {
    let calendars = [config.calendar(None, cadence.calendar.as_deref()), &config.default_calendar];
    for (start, tz) in &case.leads {
        for calendar in calendars {
            if let Ok(steps) = plan::timeline(cadence, *start, LeadTime { tz: *tz, calendar }) {
                prop_assert!(
                    steps.len() == cadence.steps.len(),
                    "timeline {steps:?} for {} steps",
                    cadence.steps.len()
                );
                let mut previous = *start;
                for s in &steps {
                    prop_assert!(s.at >= previous, "timeline goes back in time: {steps:?} from {start}");
                    previous = s.at;
                }
            }
        }
    }
    let mut complete = case.fields.clone();
    for (i, var) in cadence.templates.variables().into_iter().enumerate() {
        complete.insert(var, case.values[i % case.values.len()].clone());
    }
    for step in &cadence.steps {
        let _ = cadence.templates.render(&step.id, "a@b.test", &case.fields);
        let _ = cadence.templates.render(&step.id, "Jane@Acme.test", &complete);
        let _ = cadence.templates.render(&step.id, "", &Fields::new());
    }
    let _ = cadence.templates.render("no-such-step", "a@b.test", &complete);
    Ok(())
}

#[test]
fn cadence_files() {
    let dir = tempfile::tempdir().unwrap();
    write_template_files(dir.path());
    let configs = [
        Config::parse(Path::new("/p/config.toml"), CADENCE_CONFIG).unwrap(),
        Config::parse(Path::new("/p/config.toml"), CADENCE_CONFIG_2).unwrap(),
    ];
    let root = dir.path().to_str().unwrap().to_string();
    fuzz("cadence_files", 300, cadence_case(Arc::new(cadence_seeds())), |case| {
        let path = dir.path().join(case.file);
        let config = &configs[case.config];
        match Cadence::parse(&path, &case.source, config) {
            Ok(cadence) => exercise_cadence(&cadence, config, &case).map(|()| "parsed"),
            Err(errors) => check_located(&errors, &root).map(|()| "rejected"),
        }
    });
}
