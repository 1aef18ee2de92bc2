//! Every cadence error a user can meet names file, line, column and field.

use std::path::Path;

use super::*;
use crate::config::Config;

fn config() -> Config {
    Config::parse(
        Path::new("/p/config.toml"),
        "[mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"o\"\n[mailboxes.other]\nfrom = \"b@seller.test\"\noutbox = \"o\"\n",
    )
    .unwrap()
}

fn parse(text: &str) -> Result<Cadence, String> {
    Cadence::parse(Path::new("/p/cadences/c.toml"), text, &config()).map_err(|e| e.to_string())
}

const STEP: &str = "[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"Hi {{ first_name }}\"\nbody = \"\"\"\nHello {{ first_name }},\nbye\n\"\"\"\n";

#[test]
fn a_valid_cadence_loads_with_its_variables() {
    let c = parse(&format!("mailbox = \"sales\"\nwindow = \"0 * 9-16 * * Mon-Fri\"\n{STEP}")).unwrap();
    assert_eq!(c.name, "c");
    assert_eq!(c.mailbox, "sales");
    assert_eq!(c.steps.len(), 1);
    assert_eq!(c.stop_on.len(), 3);
    assert_eq!(c.templates.variables().into_iter().collect::<Vec<_>>(), ["first_name"]);
    let fields: Fields = [("first_name".to_string(), "Jane".to_string())].into();
    let r = c.templates.render("a", "j@x.test", &fields).unwrap();
    assert_eq!(r.subject.as_deref(), Some("Hi Jane"));
    assert_eq!(r.body, "Hello Jane,\nbye");
}

#[test]
fn an_email_step_without_a_subject_replies_to_an_earlier_one() {
    let reply = "[[steps]]\nid = \"b\"\nwait = \"2d\"\nkind = \"email\"\nbody = \"Bump\"\n";
    let c = parse(&format!("mailbox = \"sales\"\n{STEP}{reply}")).unwrap();
    assert!(!c.steps[0].threaded);
    assert!(c.steps[1].threaded);
    let err = parse(&format!("mailbox = \"sales\"\n{reply}{STEP}")).unwrap_err();
    assert!(err.contains("step \"b\": subject: an email step needs a subject unless an earlier email step"), "{err}");
}

#[test]
fn missing_variable_is_an_error_naming_it() {
    let c = parse(&format!("mailbox = \"sales\"\n{STEP}")).unwrap();
    let err = c.templates.render("a", "j@x.test", &Fields::new()).unwrap_err();
    assert_eq!(err.missing, ["first_name"]);
    assert!(err.to_string().contains("uses first_name that the lead lacks"), "{err}");
}

#[test]
fn default_filter_covers_a_missing_variable() {
    let c = parse("mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"0d\"\nkind = \"call\"\nbody = \"Call {{ phone | default('n/a') }}\"\n").unwrap();
    assert_eq!(c.templates.render("a", "j@x.test", &Fields::new()).unwrap().body, "Call n/a");
}

#[test]
fn each_error_names_its_place() {
    let cases: &[(&str, &str)] = &[
        ("mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwiat = \"2d\"\n", "c.toml:4:1: unknown field `wiat`"),
        ("mailbox = \"nope\"\nsteps = []\n", "c.toml:1:11: mailbox: unknown mailbox \"nope\""),
        ("steps = []\n", "mailbox: required when more than one mailbox is configured: add a line mailbox = "),
        ("mailbox = \"sales\"\nwindow = \"every day\"\nsteps = []\n", "c.toml:2:10: window:"),
        (
            "mailbox = \"sales\"\nstop_on = [\"reply\", \"sunset\"]\nsteps = []\n",
            "c.toml:2:21: stop_on: unknown event \"sunset\"",
        ),
        ("mailbox = \"sales\"\nsteps = []\n", "steps: a cadence needs at least one"),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a b\"\nwait = \"1d\"\nkind = \"task\"\nbody = \"x\"\n",
            "c.toml:3:6: step \"a b\": id may use only",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1x\"\nkind = \"task\"\nbody = \"x\"\n",
            "c.toml:4:8: step \"a\": wait:",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"sms\"\nbody = \"x\"\n",
            "c.toml:5:8: step \"a\": kind: unknown kind \"sms\"",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"email\"\nbody = \"x\"\n",
            "step \"a\": subject: an email step needs a subject",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"call\"\nsubject = \"s\"\nbody = \"x\"\n",
            "c.toml:6:11: step \"a\": subject: only email steps",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"task\"\n",
            "step \"a\": body: a step needs a body",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"task\"\nbody = \"x\"\ntemplate = \"t.md\"\n",
            "c.toml:7:12: step \"a\": template: set either",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"task\"\ntemplate = \"missing.md\"\n",
            "template: cannot read /p/cadences/missing.md",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"task\"\nbody = \"\"\"\nline one\nHi {{ first_name \n\"\"\"\n",
            "c.toml:8:1: step \"a\" body: syntax error",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"task\"\nbody = \"{{ x | nosuchfilter }}\"\n",
            "c.toml:6:9: step \"a\" body: unknown filter",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"Hi\"\nbody = \"\"\"\nline one\nHi {{ x | upcase }}\n\"\"\"\n",
            "c.toml:9:1: step \"a\" body: unknown filter: filter upcase is unknown",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"Hi {{ x | upcase }}\"\nbody = \"b\"\n",
            "c.toml:6:12: step \"a\" subject: unknown filter",
        ),
        (
            "mailbox = \"sales\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"task\"\nbody = \"\"\"\nline one\n{{ x | indent(99999) }}\n\"\"\"\n",
            "c.toml:8:1: step \"a\" body: filter indent: a width of 99999 is more than 1000",
        ),
    ];
    for (text, want) in cases {
        let err = parse(text).unwrap_err();
        assert!(err.contains(want), "{text:?}:\nexpected {want:?} in\n{err}");
    }
}

#[test]
fn all_problems_of_a_file_are_listed_in_line_order() {
    let err = parse(
        "mailbox = \"nope\"\nwindow = \"bad\"\n[[steps]]\nid = \"a\"\nwait = \"zz\"\nkind = \"fax\"\nbody = \"x\"\n",
    )
    .unwrap_err();
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines[0].contains(":1:") && lines[1].contains(":2:") && lines[2].contains(":5:") && lines[3].contains(":6:"),
        "{err}"
    );
}

#[test]
fn manual_steps_without_any_owner_are_named() {
    let call = "[[steps]]\nid = \"call-1\"\nwait = \"1d\"\nkind = \"call\"\nbody = \"Call\"\n";
    let c = parse(&format!("mailbox = \"sales\"\n{STEP}{call}")).unwrap();
    assert_eq!(c.unowned_manual_steps(&config()), ["call-1"]);
    let warning = c.unowned_warning(&config()).unwrap();
    assert!(warning.starts_with("/p/cadences/c.toml: manual step(s) call-1 have no owner"), "{warning}");
    assert!(warning.contains("set owner = \"rep@example.com\" in this file or in [mailboxes.sales]"), "{warning}");
    // The cadence's owner, or its mailbox's, owns them.
    let owned = parse(&format!("mailbox = \"sales\"\nowner = \"rep@seller.test\"\n{STEP}{call}")).unwrap();
    assert!(owned.unowned_manual_steps(&config()).is_empty());
    let text = "[mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"o\"\nowner = \"ada@seller.test\"\n";
    let config = Config::parse(Path::new("/p/config.toml"), text).unwrap();
    let c = Cadence::parse(Path::new("/p/cadences/c.toml"), &format!("{STEP}{call}"), &config).unwrap();
    assert_eq!(c.unowned_warning(&config), None);
    // Only emails: nothing to own.
    assert!(parse(&format!("mailbox = \"sales\"\n{STEP}")).unwrap().unowned_manual_steps(&self::config()).is_empty());
}

const VARIANTS: &str = "mailbox = \"sales\"\n[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nbody = \"Hi {{ first_name }}\"\nholdout = 0.1\nmin_sample = 50\n[[steps.variants]]\nid = \"a\"\nsubject = \"Question for {{ company }}\"\n[[steps.variants]]\nid = \"b\"\nsubject = \"{{ first_name }}, a thought\"\nbody = \"Hello {{ first_name }}\"\nweight = 3\n[[steps]]\nid = \"bump\"\nwait = \"2d\"\nkind = \"email\"\nbody = \"Bump\"\n";

#[test]
fn variants_inherit_the_steps_text_and_are_chosen_stably() {
    let c = parse(VARIANTS).unwrap();
    let step = &c.steps[0];
    assert!(!step.threaded, "every variant has a subject: the step opens its thread");
    assert!(c.steps[1].threaded);
    assert_eq!(step.holdout, Some(0.1));
    assert_eq!((step.min_sample, c.steps[1].min_sample), (50, DEFAULT_MIN_SAMPLE));
    assert_eq!(step.variants.iter().map(|v| (v.id.as_str(), v.weight)).collect::<Vec<_>>(), [("a", 1.0), ("b", 3.0)]);
    let fields: Fields =
        [("first_name".to_string(), "Jane".to_string()), ("company".to_string(), "Acme".to_string())].into();
    let a = c.templates.render(&step.template_key(Some("a")), "j@x.test", &fields).unwrap();
    assert_eq!((a.subject.as_deref(), a.body.as_str()), (Some("Question for Acme"), "Hi Jane"));
    let b = c.templates.render(&step.template_key(Some("b")), "j@x.test", &fields).unwrap();
    assert_eq!((b.subject.as_deref(), b.body.as_str()), (Some("Jane, a thought"), "Hello Jane"));
    // Stable: the same lead, the same variant, every time; weights share the leads.
    let first = crate::core::variants::variant_of(step, "j@x.test", "c", None).map(str::to_string);
    assert_eq!(crate::core::variants::variant_of(step, "J@X.test", "c", None).map(str::to_string), first);
    let bs = (0..4000)
        .filter(|i| crate::core::variants::variant_of(step, &format!("l{i}@x.test"), "c", None) == Some("b"))
        .count();
    assert!((2_850..3_150).contains(&bs), "weight 3 of 4: {bs}");
    assert_eq!(crate::core::variants::variant_of(step, "j@x.test", "c", Some("a")), Some("a"), "a picked winner wins");
    assert_eq!(c.template_keys(), ["intro@a", "intro@b", "bump"]);
}

#[test]
fn variant_errors_name_their_place() {
    let dup = VARIANTS.replace("id = \"b\"", "id = \"a\"");
    let err = parse(&dup).unwrap_err();
    assert!(err.contains("c.toml:13:6: step \"intro\": variant \"a\": id is used twice in this step"), "{err}");
    for bad in ["weight = 0", "weight = -1"] {
        let err = parse(&VARIANTS.replace("weight = 3", bad)).unwrap_err();
        assert!(
            err.contains("c.toml:16:10: step \"intro\": variant \"b\": weight: must be a positive number"),
            "{err}"
        );
    }
    let err = parse(&VARIANTS.replace("holdout = 0.1", "holdout = 1.5")).unwrap_err();
    assert!(err.contains("c.toml:7:11: step \"intro\": holdout: a share of leads from 0 up to"), "{err}");
    let err = parse(&VARIANTS.replace("min_sample = 50", "min_sample = 0")).unwrap_err();
    assert!(err.contains("step \"intro\": min_sample: must be a positive number of leads"), "{err}");
    let err = parse(&VARIANTS.replace("subject = \"{{ first_name }}, a thought\"\n", "")).unwrap_err();
    assert!(err.contains("variants: either every variant has a subject or none has"), "{err}");
    let err =
        parse(&VARIANTS.replace(
            "\nkind = \"email\"\nbody = \"Bump\"\n",
            "\nkind = \"email\"\nbody = \"Bump\"\npick_winner = true\n",
        ))
        .unwrap_err();
    assert!(err.contains("step \"bump\": pick_winner: needs at least two"), "{err}");
    let err = parse(&VARIANTS.replace("weight = 3", "wieght = 3")).unwrap_err();
    assert!(err.contains("unknown field `wieght`"), "{err}");
}
