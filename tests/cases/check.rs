//! `check` reads the database too: the variables leads in flight lack, per
//! cadence and step, and whether the database's folder can be written.

use std::process::Command;

use crate::support::{BIN, Project};

fn version_one() -> String {
    "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi {{ first_name }}\"\nbody = \"b\"\n\
     [[steps]]\nid = \"follow\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"s\"\n\
     body = \"{{ first_name }} at {{ company }}\"\n"
        .to_string()
}

/// intro now uses `nickname`, follow a misspelt `frist_name` (and `phone`
/// with a default), and a new step `extra` uses `title`.
fn version_two() -> String {
    "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi {{ nickname }}\"\nbody = \"b\"\n\
     [[steps]]\nid = \"follow\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"s\"\n\
     body = \"{{ frist_name }} at {{ company }}, {{ phone | default('no phone') }}\"\n\
     [[steps]]\nid = \"extra\"\nwait = \"1d\"\nkind = \"call\"\nbody = \"Call the {{ title }}\"\n"
        .to_string()
}

#[test]
fn check_names_each_variable_leads_in_flight_lack_per_step_and_strict_fails() {
    let p = Project::new();
    p.cadence("nurture", &version_one());
    let enroll = |email: &str, extra: &[&str], at: &str| {
        let mut args = vec!["enroll", email, "--cadence", "nurture", "--field", "first_name=F", "--field", "company=C"];
        for field in extra {
            args.extend(["--field", field]);
        }
        args.extend(["--at", at]);
        p.ok(&args);
    };
    for email in ["a@acme.test", "b@acme.test", "stopped@acme.test"] {
        enroll(email, &[], "2026-03-02T09:00:00Z");
    }
    enroll("c@acme.test", &["title=CEO"], "2026-03-02T09:00:00Z");
    p.tick("2026-03-02T09:00:00Z");
    // e has not had intro yet; the others are past it.
    enroll("e@acme.test", &[], "2026-03-05T09:00:00Z");
    p.ok(&["stop", "stopped@acme.test"]);
    let clean = p.ok(&["check"]);
    assert!(!clean.contains("warning"), "{clean}");

    p.cadence("nurture", &version_two());
    let out = p.ok(&["check"]);
    let intro = "warning: cadence \"nurture\" step \"intro\" subject uses nickname, which 1 lead(s) in flight lack, \
                 e.g. e@acme.test: they are paused when the step falls due.";
    let follow = "warning: cadence \"nurture\" step \"follow\" body uses frist_name (did you mean first_name? the \
                  leads have it), which 4 lead(s) in flight lack, e.g. a@acme.test";
    let extra = "warning: cadence \"nurture\" step \"extra\" body uses title, which 3 lead(s) in flight lack, e.g. \
                 a@acme.test";
    for needle in [intro, follow, extra] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert!(
        out.contains("or give the leads the field (`cadenced enroll EMAIL --cadence nurture --field title=VALUE`)")
    );
    let warnings: Vec<&str> = out.lines().filter(|l| l.starts_with("warning")).collect();
    assert_eq!(warnings.len(), 3, "{out}");
    assert!(!warnings.iter().any(|w| w.contains("phone")), "a variable with a default is not lacking:\n{out}");
    assert!(!out.contains("stopped@"), "{out}");

    let err = p.fails(&["check", "--strict"]);
    for needle in [intro, follow, extra] {
        let needle = needle.replacen("warning: ", "error: ", 1);
        assert!(err.contains(&needle), "missing {needle:?} in:\n{err}");
    }

    let v = p.json(&["check", "--json"]);
    assert_eq!(v["ok"], true);
    let got: Vec<(String, String, String, u64)> = v["lacking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (s("step"), s("part"), s("variable"), l["leads"].as_u64().unwrap())
        })
        .collect();
    let want =
        [("intro", "subject", "nickname", 1), ("follow", "body", "frist_name", 4), ("extra", "body", "title", 3)];
    let want: Vec<_> = want.iter().map(|(s, p, v, n)| (s.to_string(), p.to_string(), v.to_string(), *n)).collect();
    assert_eq!(got, want);
    assert_eq!(v["lacking"][1]["did_you_mean"], "first_name");
    let strict = p.run(&["check", "--strict", "--json"]);
    assert!(!strict.status.success());
    let strict: serde_json::Value = serde_json::from_slice(&strict.stdout).unwrap();
    assert_eq!((strict["ok"].as_bool(), strict["errors"].as_array().map(Vec::len)), (Some(false), Some(3)));
}

/// The config of `p` with `database` set to `db`.
fn config_with_database(p: &Project, db: &str) {
    p.write(
        "config.toml",
        &format!(
            "database = \"{db}\"\ncadences = \"cadences\"\ntimezone = \"Europe/Berlin\"\n\n[mailboxes.sales]\n\
             from = \"Ada Sales <ada@seller.test>\"\nsmtp = \"{}\"\n",
            p.smtp.url()
        ),
    );
}

/// Runs `cadenced check` as a user without any privilege: root writes into
/// any folder whatever its mode, so as root it runs as `nobody` (`setpriv`).
fn check_unprivileged(p: &Project) -> std::process::Output {
    let uid = Command::new("id").arg("-u").output().unwrap();
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let config = p.path("config.toml");
    let mut command = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    command.arg("--config").arg(config).arg("check").output().unwrap()
}

#[test]
fn check_is_not_green_when_the_database_folder_cannot_be_written() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::new();
    p.cadence("c", "[[steps]]\nid = \"a\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n");
    std::fs::create_dir(p.path("data")).unwrap();
    config_with_database(&p, "data/cadenced.db");
    let v = p.json(&["check", "--json"]);
    assert_eq!((v["ok"].as_bool(), v["database"]["writable"].as_bool()), (Some(true), Some(true)));

    // A path under a plain file: never a folder, for root neither.
    p.write("plain", "");
    config_with_database(&p, "plain/cadenced.db");
    let err = p.fails(&["check"]);
    assert!(
        err.contains("plain is not a folder: set `database` in the config to a file in a writable folder"),
        "{err}"
    );

    // A folder the user cannot write in.
    config_with_database(&p, "data/cadenced.db");
    for (path, mode) in [(p.dir.path().to_path_buf(), 0o755), (p.path("data"), 0o555)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = check_unprivileged(&p);
    let stderr = String::from_utf8_lossy(&out.stderr);
    std::fs::set_permissions(p.path("data"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!out.status.success(), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("data/cadenced.db: cannot write in"), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(stderr.contains("give the user that runs cadenced write access to it"), "{stderr}");
}
