//! What a new user meets in the first hour (issue 16): enrolling a known lead
//! again, a tick before the enrollment, the shipped files, error texts, the
//! import of a spreadsheet's CSV, the CLI's conventions and its output. The
//! real binary on a real database, as a user types it.

use std::io::Read;
use std::process::{Command, Stdio};

use crate::support::{BIN, Project, repo};

const TWO_STEPS: &str = r#"
window = "0 * 9-16 * * Mon-Fri"

[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Hello {{ company }}"
body = "Hi {{ first_name }}"

[[steps]]
id = "call"
wait = "1bd"
kind = "call"
body = "Call {{ first_name }}"
"#;

const NURTURE: &str = r#"
[[steps]]
id = "check-in-1"
wait = "4w"
kind = "email"
subject = "Checking in, {{ first_name }}"
body = "Hi {{ first_name }}"
"#;

fn project() -> Project {
    let p = Project::new();
    p.cadence("seven", TWO_STEPS);
    p.cadence("nurture", NURTURE);
    p
}

fn enroll_c(p: &Project) -> String {
    p.ok(&[
        "enroll",
        "c@example.org",
        "--cadence",
        "seven",
        "--field",
        "first_name=C",
        "--field",
        "company=C",
        "--tz",
        "America/New_York",
        "--at",
        "2026-03-02T12:00:00Z",
    ])
}

// ---- 1, 2: enrolling a known lead ----

#[test]
fn a_known_lead_enrolls_in_another_cadence_with_its_stored_fields() {
    let p = project();
    enroll_c(&p);
    let out = p.ok(&["enroll", "c@example.org", "--cadence", "nurture", "--at", "2026-03-02T12:00:00Z"]);
    assert!(
        out.starts_with("kept its stored fields; enrolled c@example.org in nurture: first step check-in-1"),
        "{out}"
    );
    let s = p.status("c@example.org");
    assert_eq!(s["enrollments"].as_array().unwrap().len(), 2);
    assert_eq!(s["timezone"], "America/New_York", "the stored zone is the lead's zone in the new cadence too");
    // 4 weeks after 07:00 EST is 07:00 EDT: planned in the lead's zone, not the config's (Berlin).
    assert_eq!(s["enrollments"][1]["next_due_at"], "2026-03-30T11:00:00Z");
}

#[test]
fn field_adds_to_and_overrides_a_known_leads_fields_and_says_what_changed() {
    let p = project();
    p.ok(&["enroll", "c@example.org", "--cadence", "nurture", "--field", "first_name=C"]);
    let out =
        p.ok(&["enroll", "c@example.org", "--cadence", "seven", "--field", "first_name=Cy", "--field", "company=Co"]);
    assert!(out.starts_with("updated first_name, added company; enrolled c@example.org in seven:"), "{out}");
    let s = p.status("c@example.org");
    assert_eq!(s["fields"]["first_name"], "Cy");
    assert_eq!(s["fields"]["company"], "Co");
}

#[test]
fn enrolling_again_in_the_same_cadence_changes_nothing_even_without_fields() {
    let p = project();
    enroll_c(&p);
    let out = p.ok(&["enroll", "c@example.org", "--cadence", "seven"]);
    assert_eq!(out.trim(), "c@example.org is already in seven (active): nothing changed");
    // --field on an enrollment that exists is not applied, and the answer says so.
    let out = p.ok(&["enroll", "c@example.org", "--cadence", "seven", "--field", "first_name=D", "--field", "phone=1"]);
    assert_eq!(
        out.trim(),
        "c@example.org is already in seven (active): nothing changed (its fields too; not applied: first_name=D \
         (stored: C), phone=1)"
    );
    let s = p.status("c@example.org");
    assert_eq!(s["fields"]["first_name"], "C");
    assert!(s["fields"].get("phone").is_none());
}

#[test]
fn a_lead_without_a_template_variable_is_told_which_field_to_add() {
    let p = project();
    let err = p.fails(&["enroll", "d@example.org", "--cadence", "seven", "--field", "first_name=D"]);
    assert!(
        err.contains(
            "cannot enroll d@example.org: company: step \"intro\" subject uses company that the lead lacks; add \
             --field company=..."
        ),
        "{err}"
    );
    assert_eq!(p.db().enrollments(), 0);
}

// ---- 3: a tick in virtual time that finds nothing ----

#[test]
fn a_tick_before_the_enrollment_says_so_and_what_comes_next() {
    let p = project();
    let out = enroll_c(&p);
    assert!(out.contains("first step intro due Mon 2026-03-02 09:00 EST (14:00 UTC)"), "{out}");
    let out = p.tick("2026-02-23T14:00:00Z");
    assert!(out.contains("tick at 2026-02-23T14:00:00Z: 0 sent,"), "{out}");
    assert!(out.contains("nothing was due at 2026-02-23T14:00:00Z"), "{out}");
    assert!(
        out.contains(&format!(
            "next: c@example.org seven/intro due Mon 2026-03-02 09:00 EST (14:00 UTC); to run it now in virtual \
             time: cadenced -c {} tick --at 2026-03-02T14:00:00Z",
            p.path("config.toml").display()
        )),
        "{out}"
    );
    assert!(
        out.contains("note: 2026-02-23T14:00:00Z is before the enrollment of c@example.org (2026-03-02T12:00:00Z)"),
        "{out}"
    );
    // The line it offers runs the step.
    let out = p.tick("2026-03-02T14:00:00Z");
    assert!(out.contains("1 sent"), "{out}");
    assert!(!out.contains("nothing was due"), "{out}");
    assert!(!out.contains("note:"), "{out}");
    assert!(out.contains("next: c@example.org seven/call due Tue 2026-03-03 09:00 EST (14:00 UTC)"), "{out}");
    let out = p.tick("2026-03-03T14:00:00Z");
    assert!(out.contains("1 tasks opened"), "{out}");
    assert!(out.contains("1 open task(s): cadenced -c"), "{out}");
}

#[test]
fn a_tick_in_real_time_offers_no_command_that_would_send_early() {
    let p = project();
    p.ok(&["enroll", "c@example.org", "--cadence", "nurture", "--field", "first_name=C"]);
    let out = p.ok(&["tick"]);
    assert!(out.contains("next: c@example.org nurture/check-in-1 due"), "{out}");
    assert!(!out.contains("tick --at"), "{out}");
}

#[test]
fn a_tick_with_nothing_enrolled_says_nothing_is_coming() {
    let p = project();
    let out = p.tick("2026-03-02T14:00:00Z");
    assert!(out.contains("nothing was due at 2026-03-02T14:00:00Z\nno step is coming up"), "{out}");
}

// ---- 4: the shipped files and the README ----

/// The shipped config and cadences, copied into a fresh folder.
fn shipped() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("config.toml"), dir.path().join("config.toml")).unwrap();
    std::fs::create_dir(dir.path().join("cadences")).unwrap();
    for entry in std::fs::read_dir(repo().join("cadences")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join("cadences").join(path.file_name().unwrap())).unwrap();
    }
    dir
}

fn run_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN).current_dir(dir).args(args).env("CADENCED_LOG", "warn").output().unwrap()
}

fn ok_in(dir: &std::path::Path, args: &[&str]) -> String {
    let out = run_in(dir, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_shipped_config_has_an_owner_and_a_us_calendar() {
    let dir = shipped();
    let d = dir.path();
    let out = ok_in(
        d,
        &["preview", "seven-touch", "--calendar", "us", "--tz", "America/New_York", "--start", "2026-11-23T14:00:00Z"],
    );
    // bump-1, two business days after Monday, is Wednesday; call-1 skips Thanksgiving (Thursday 26th).
    assert!(out.contains("bump-1         email     Wed 2026-11-25 09:00 EST"), "{out}");
    assert!(out.contains("call-1         call      Mon 2026-11-30 09:00 EST"), "{out}");
    // The walkthrough, in virtual time: the call is the owner's task.
    let out = ok_in(
        d,
        &[
            "enroll",
            "jane@acme.test",
            "--cadence",
            "seven-touch",
            "--field",
            "first_name=Jane",
            "--field",
            "company=Acme",
            "--tz",
            "America/New_York",
            "--at",
            "2026-11-23T10:00:00Z",
        ],
    );
    assert!(out.contains("to write it into the outbox now, in virtual time: cadenced tick --at 2026-11-23T14:00:00Z"));
    for at in ["2026-11-23T14:00:00Z", "2026-11-25T14:00:00Z", "2026-11-27T14:00:00Z"] {
        ok_in(d, &["tick", "--at", at]);
    }
    let tasks = ok_in(d, &["tasks", "--at", "2026-11-27T14:00:00Z"]);
    assert!(tasks.contains("seven-touch/call-1  due Fri 2026-11-27 09:00 EST (14:00 UTC)  owner ada@example.com"));
    assert!(!tasks.contains("have no owner"), "{tasks}");
}

/// The first ```toml block after `heading` in the README.
fn readme_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let after = &readme[readme.find(heading).expect("heading")..];
    let start = after.find("```toml\n").expect("toml block") + "```toml\n".len();
    let len = after[start..].find("```").unwrap();
    after[start..start + len].to_string()
}

#[test]
fn the_readmes_example_config_passes_check_as_written() {
    let dir = shipped();
    let d = dir.path();
    // Only the secrets and the holiday file it names are the reader's own.
    let pass = d.join("ada.pass");
    std::fs::write(&pass, "secret\n").unwrap();
    std::fs::set_permissions(&pass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::create_dir(d.join("holidays")).unwrap();
    std::fs::write(d.join("holidays/de.txt"), "2026-10-03\n").unwrap();
    let config = readme_block("### `config.toml`").replace("/etc/cadenced/ada.pass", pass.to_str().unwrap());
    assert!(config.contains("calendar = \"us\""), "{config}");
    std::fs::write(d.join("config.toml"), config).unwrap();
    let out = run_in(d, &["check"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

// ---- 5: error texts ----

#[test]
fn config_and_cadence_errors_name_the_real_problem_and_its_line() {
    let p = project();
    p.write_config(
        "username = \"ada\"\npassword_env = \"CADENCED_TEST_UNSET_VARIABLE\"\nallow_plaintext_auth = true\n",
    );
    let out = p.run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("password_env: environment variable CADENCED_TEST_UNSET_VARIABLE is not set"), "{err}");
    assert!(!err.contains("neither password_file nor password_env"), "{err}");

    let p = project();
    p.cadence("seven", &TWO_STEPS.replace("9-16", "9-25"));
    let err = p.fails(&["check"]);
    assert!(err.contains("seven.toml:2:10: window: invalid cron expression \"0 * 9-25 * * Mon-Fri\": hour 25 is out of range 0-23 in field 3 (hour)"), "{err}");
    assert!(!err.contains("6 or 7 fields"), "{err}");

    let p = project();
    p.cadence("seven", &TWO_STEPS.replace("Call {{ first_name }}", "Call {{ first_name | upcase }}"));
    let err = p.fails(&["check"]);
    assert!(err.contains("seven.toml:15:9: step \"call\" body: unknown filter: filter upcase is unknown"), "{err}");
}

#[test]
fn an_error_and_its_cause_are_said_once() {
    let p = project();
    enroll_c(&p);
    let backup = p.path("copy.db");
    p.ok(&["backup", backup.to_str().unwrap()]);
    let err = p.fails(&["backup", backup.to_str().unwrap()]);
    let b = backup.display();
    assert_eq!(err.trim(), format!("cadenced: backing up to {b}: database {b}: file exists; not overwriting"));
}

// ---- 6: import ----

#[test]
fn a_reimport_counts_what_is_new_unchanged_and_skipped() {
    let p = project();
    p.write("leads.csv", "email,first_name,company\na@x.test,A,Acme\nb@x.test,B,Acme\n");
    let csv = p.path("leads.csv");
    let out = p.ok(&["import", csv.to_str().unwrap(), "--cadence", "seven"]);
    assert!(out.contains("2 rows read: 2 enrolled in seven, 0 already in seven (left unchanged), 0 skipped"), "{out}");
    p.write("leads.csv", "email,first_name,company\na@x.test,A,Acme\nb@x.test,B,Acme\nc@x.test,,Acme\n");
    let out = p.run(&["import", csv.to_str().unwrap(), "--cadence", "seven"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("3 rows read: 0 enrolled in seven, 2 already in seven (left unchanged), 1 skipped"));
    assert!(stderr.contains("leads.csv:4: first_name: step \"intro\" body uses first_name that the lead lacks (its first_name cell is empty)"), "{stderr}");
    assert!(stderr.contains("cadenced: 1 rows skipped (listed above): fix them and import the file again"), "{stderr}");
    assert!(!stderr.contains("were imported"), "{stderr}");
}

#[test]
fn a_spreadsheets_csv_with_semicolons_and_capitalised_headers_imports() {
    let p = project();
    p.write("leads.csv", "\u{feff}Email;First_Name;Company;Notes\nann@x.test;Ann;Acme;two\n");
    let out = p.run(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "seven"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("1 rows read: 1 enrolled in seven"), "{stdout}");
    assert!(stderr.contains("leads.csv:1: note: columns are separated by ';'"), "{stderr}");
    assert!(stderr.contains("leads.csv:1: note: column \"First_Name\" is read as the field first_name"), "{stderr}");
    let s = p.status("ann@x.test");
    assert_eq!(s["fields"]["first_name"], "Ann");
    assert_eq!(s["fields"]["company"], "Acme");
    assert_eq!(s["fields"]["Notes"], "two", "a column no template uses keeps its name");
}

#[test]
fn an_import_says_which_column_is_missing_or_misspelt() {
    let p = project();
    p.write("mail.csv", "E-Mail,first_name\nann@x.test,Ann\n");
    let err = p.fails(&["import", p.path("mail.csv").to_str().unwrap(), "--cadence", "seven"]);
    assert!(err.contains("mail.csv:1: no `email` column in the header row (found: E-Mail, first_name): rename the column \"E-Mail\" to email"), "{err}");
    // Two spellings of one field: neither is guessed, the row says why it fails.
    p.write("two.csv", "email,First_Name,FIRST_NAME,company\nann@x.test,Ann,Ann,Acme\n");
    let err = p.fails(&["import", p.path("two.csv").to_str().unwrap(), "--cadence", "seven"]);
    assert!(err.contains("two.csv:2: first_name: step \"intro\" body uses first_name that the lead lacks (the file has a column \"First_Name\": rename it first_name)"), "{err}");
}

#[test]
fn an_import_row_of_a_known_lead_uses_its_stored_fields() {
    let p = project();
    enroll_c(&p);
    p.write("leads.csv", "email\nc@example.org\n");
    let out = p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "nurture"]);
    assert!(out.contains("1 rows read: 1 enrolled in nurture"), "{out}");
    let out = p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "seven"]);
    assert!(out.contains("0 enrolled in seven, 1 already in seven (left unchanged), 0 skipped"), "{out}");
}

// ---- 7: CLI conventions ----

/// Runs `cadenced ARGS` with a stdout whose reader is gone before anything is written.
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(BIN).args(args).stdout(writer).stderr(Stdio::piped()).spawn().unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn completions_and_man_end_quietly_when_the_reader_is_gone() {
    for args in [&["completions", "bash"][..], &["man"]] {
        let out = with_closed_stdout(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    let mut script = String::new();
    let mut child = Command::new(BIN).args(["completions", "bash"]).stdout(Stdio::piped()).spawn().unwrap();
    child.stdout.take().unwrap().read_to_string(&mut script).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(script.contains("_cadenced()"), "a whole script when someone reads it");
}

#[test]
fn short_config_flag_json_help_and_one_default_in_help() {
    let p = project();
    let out = Command::new(BIN).arg("-c").arg(p.path("config.toml")).arg("check").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let help = p.ok(&["leads", "--help"]);
    assert!(help.contains("-c, --config <FILE>"), "{help}");
    assert!(help.contains("--json") && help.contains("Print one JSON document"), "{help}");
    assert!(help.contains("[possible values: active, paused, finished, stopped, replied, bounced, unsubscribed]"));
    let help = p.ok(&["due", "--help"]);
    assert_eq!(help.matches("24h").count(), 1, "{help}");
}

#[test]
fn an_unknown_cadence_filter_is_an_error_that_lists_the_loaded_ones() {
    let p = project();
    enroll_c(&p);
    let err = p.fails(&["leads", "--cadence", "sevn"]);
    assert!(err.contains("unknown cadence \"sevn\" (loaded: nurture, seven)"), "{err}");
    let err = p.fails(&["pause", "c@example.org", "--cadence", "sevn"]);
    assert!(err.contains("unknown cadence \"sevn\" (loaded: nurture, seven)"), "{err}");
    let err = p.fails(&["pause", "c@example.org", "--cadence", "nurture"]);
    assert!(
        err.contains(
            "c@example.org is not in cadence \"nurture\" (it is in: seven; leave out --cadence for all of them)"
        ),
        "{err}"
    );
    assert_eq!(p.status("c@example.org")["enrollments"][0]["state"], "active");
    // A cadence whose file is gone still lists its (orphaned) leads.
    std::fs::remove_file(p.path("cadences/seven.toml")).unwrap();
    let out = p.run(&["leads", "--cadence", "seven"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("c@example.org"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: the file of cadence \"seven\" is gone"));
}

// ---- 9: output ----

#[test]
fn status_shows_message_ids_and_keeps_multi_line_fields_indented() {
    let p = project();
    p.write("leads.csv", "email,first_name,company,notes\nann@x.test,Ann,Acme,\"met at the fair\nwants a demo\"\n");
    p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "seven", "--at", "2026-03-02T12:00:00Z"]);
    p.tick("2026-03-02T12:00:00Z");
    let json = p.status("ann@x.test");
    let mid = json["enrollments"][0]["touchpoints"][0]["message_id"].as_str().unwrap().to_string();
    let text = p.ok(&["status", "ann@x.test"]);
    assert!(text.contains(&format!("      Message-ID {mid}\n")), "{text}");
    assert!(text.contains("  notes: met at the fair\n         wants a demo\n"), "{text}");
}

#[test]
fn tasks_show_the_leads_local_time_and_utc() {
    let p = project();
    enroll_c(&p);
    p.tick("2026-03-02T14:00:00Z");
    p.tick("2026-03-03T14:00:00Z");
    let out = p.ok(&["tasks", "--at", "2026-03-03T14:00:00Z"]);
    assert!(out.contains("seven/call  due Tue 2026-03-03 09:00 EST (14:00 UTC)  owner -"), "{out}");
    assert!(out.contains("1 task(s) have no owner, so no reminder goes out for them"), "{out}");
}
