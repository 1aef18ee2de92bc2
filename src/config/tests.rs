//! Every config error a user can meet names its field and place.

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(Path::new("/etc/cadenced/config.toml"), text).map_err(|e| e.to_string())
}

const MAILBOX: &str = "[mailboxes.sales]\nfrom = \"Ada <ada@seller.test>\"\noutbox = \"outbox\"\n";

#[test]
fn minimal_config_gets_defaults_relative_to_its_folder() {
    let c = parse(MAILBOX).unwrap();
    assert_eq!(c.database, Path::new("/etc/cadenced/cadenced.db"));
    assert_eq!(c.cadences_dir, Path::new("/etc/cadenced/cadences"));
    assert_eq!(c.timezone, Tz::UTC);
    assert_eq!(c.tick_interval, Duration::from_secs(30));
    assert!(matches!(&c.mailboxes["sales"].delivery, Delivery::Outbox(p) if p == Path::new("/etc/cadenced/outbox")));
}

#[test]
fn each_error_names_file_line_col_and_field() {
    let cases = [
        ("databse = \"x\"\n", "config.toml:1:1: unknown field `databse`"),
        ("timezone = \"Nowhere/Place\"\n", "config.toml:1:12: timezone: unknown time zone"),
        (
            "tick_interval = \"0s\"\n",
            "config.toml:1:17: tick_interval: invalid duration \"0s\": must be more than zero",
        ),
        ("tick_interval = \"5 minutes\"\n", "tick_interval: invalid duration"),
        ("", "no [mailboxes.NAME] table"),
    ];
    for (prefix, want) in cases {
        let text = if prefix.is_empty() { String::new() } else { format!("{prefix}{MAILBOX}") };
        let err = parse(&text).unwrap_err();
        assert!(err.contains(want), "{prefix:?}: expected {want:?} in {err:?}");
    }
}

#[test]
fn mailbox_errors_name_the_mailbox_and_field() {
    let cases = [
        ("from = \"not an address\"\noutbox = \"o\"\n", "mailboxes.m: from: invalid address"),
        ("from = \"a@b.test\"\n", "mailboxes.m: needs smtp"),
        ("from = \"a@b.test\"\nsmtp = \"smtp://h\"\noutbox = \"o\"\n", "set either smtp or outbox"),
        ("from = \"a@b.test\"\nsmtp = \"http://h\"\n", "smtp: unknown scheme \"http\""),
        ("from = \"a@b.test\"\nsmtp = \"smtp://u:p@h\"\n", "credentials in username and password_file"),
        ("from = \"a@b.test\"\nsmtp = \"smtp://h:99999\"\n", "invalid port"),
        ("from = \"a@b.test\"\nsmtp = \"smtps://h\"\nusername = \"u\"\n", "neither password_file nor password_env"),
        ("from = \"a@b.test\"\nsmtps = \"x\"\n", "unknown field `smtps`"),
        (
            "from = \"a@b.test\"\nsmtp = \"smtp://h\"\nusername = \"u\"\npassword_env = \"PATH\"\n",
            "refusing to send a password over an unencrypted smtp:// connection",
        ),
        ("from = \"a@b.test\"\nsmtps = \"x\"\n", "config.toml:3:1"),
        (
            "from = \"a@b.test\"\nsmtp = \"smtps://h\"\nusername = \"u\"\npassword_env = \"CADENCED_TEST_PW_UNSET\"\n",
            "environment variable CADENCED_TEST_PW_UNSET is not set",
        ),
    ];
    for (body, want) in cases {
        let err = parse(&format!("[mailboxes.m]\n{body}")).unwrap_err();
        assert!(err.contains(want), "{body:?}: expected {want:?} in {err:?}");
    }
}

#[test]
fn password_never_shows_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "hunter2\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        "[mailboxes.m]\nfrom = \"a@b.test\"\nsmtp = \"smtps://h\"\nusername = \"u\"\npassword_file = \"{}\"\n",
        pw.display()
    );
    let c = Config::parse(&dir.path().join("config.toml"), &text).unwrap();
    let Delivery::Smtp(s) = &c.mailboxes["m"].delivery else { panic!("smtp") };
    let Some(crate::config::Credential::Password(password)) = &s.credential else { panic!("a password") };
    assert_eq!(password.expose(), "hunter2");
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn world_readable_password_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "hunter2").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = "[mailboxes.m]\nfrom = \"a@b.test\"\nsmtp = \"smtps://h\"\nusername = \"u\"\npassword_file = \"pw\"\n";
    let err = Config::parse(&dir.path().join("config.toml"), text).unwrap_err().to_string();
    assert!(err.contains("readable by every user"), "{err}");
    assert!(!err.contains("hunter2"));
}

#[test]
fn smtp_urls() {
    use mailbox::parse_smtp_url;
    assert_eq!(parse_smtp_url("smtp://127.0.0.1:2525").unwrap(), ("127.0.0.1".into(), 2525, Security::Plain));
    assert_eq!(parse_smtp_url("smtp+starttls://mx.test").unwrap(), ("mx.test".into(), 587, Security::StartTls));
    assert_eq!(parse_smtp_url("smtps://mx.test/").unwrap(), ("mx.test".into(), 465, Security::Tls));
    assert_eq!(parse_smtp_url("smtp://[::1]:25").unwrap(), ("::1".into(), 25, Security::Plain));
    assert!(parse_smtp_url("smtp://").is_err());
}

#[test]
fn imap_urls() {
    use mailbox::parse_imap_url;
    assert_eq!(parse_imap_url("imaps://mx.test").unwrap(), ("mx.test".into(), 993, Security::Tls));
    assert_eq!(parse_imap_url("imap://mx.test/").unwrap(), ("mx.test".into(), 143, Security::StartTls));
    assert_eq!(parse_imap_url("imap+plain://127.0.0.1:1143").unwrap(), ("127.0.0.1".into(), 1143, Security::Plain));
    assert_eq!(parse_imap_url("imaps://[::1]").unwrap(), ("::1".into(), 993, Security::Tls));
    assert_eq!(parse_imap_url("imaps://[::1]:994").unwrap(), ("::1".into(), 994, Security::Tls));
}

#[test]
fn url_errors_name_the_url_as_written() {
    use mailbox::{parse_imap_url, parse_smtp_url};
    let cases = [
        (parse_imap_url("x"), "invalid URL \"x\" (expected e.g. imaps://mail.example.com)"),
        (
            parse_smtp_url("mx.test:25"),
            "invalid URL \"mx.test:25\" (expected e.g. smtp+starttls://mail.example.com:587)",
        ),
        (parse_smtp_url("http://h"), "unknown scheme \"http\" in \"http://h\" (expected smtp, smtp+starttls or smtps)"),
        (parse_imap_url("smtps://h"), "unknown scheme \"smtps\" in \"smtps://h\" (expected imaps, imap or imap+plain)"),
        (parse_imap_url("imaps://u:p@h"), "put credentials in username and password_file, not in the URL"),
        (parse_smtp_url("smtp://h/x"), "unexpected path in \"smtp://h/x\" (expected only host[:port])"),
        (parse_smtp_url("smtp://h?x"), "unexpected path in \"smtp://h?x\" (expected only host[:port])"),
        (parse_imap_url("imaps://[::1"), "invalid host in \"imaps://[::1\" (an IPv6 address needs its closing ']')"),
        (
            parse_imap_url("imaps://h:99999"),
            "invalid port \"99999\" in \"imaps://h:99999\" (expected a number up to 65535)",
        ),
        (parse_smtp_url("smtp://h:"), "invalid port \"\" in \"smtp://h:\" (expected a number up to 65535)"),
        (parse_smtp_url("smtp://"), "missing host in \"smtp://\""),
        (parse_imap_url("imaps://:993"), "missing host in \"imaps://:993\""),
    ];
    for (result, want) in cases {
        assert_eq!(result.unwrap_err().to_string(), want);
    }
}

#[test]
fn intervals_take_s_m_h_and_more_than_zero() {
    let accepted = [
        ("30s", 30),
        (" 5m ", 300),
        ("1h", 3600),
        ("007s", 7),
        ("18446744073709551615s", u64::MAX),
        ("18446744073709551615h", u64::MAX),
    ];
    for (text, secs) in accepted {
        assert_eq!(parse_interval(text), Ok(Duration::from_secs(secs)), "{text:?}");
    }
    let refused = [
        ("", "empty duration: expected a number and a unit, e.g. 30s (units: s, m or h)"),
        ("0s", "invalid duration \"0s\": must be more than zero"),
        ("0h", "invalid duration \"0h\": must be more than zero"),
        ("5x", "invalid duration \"5x\": unit must be s, m or h, not \"x\""),
        ("1d", "invalid duration \"1d\": unit must be s, m or h, not \"d\""),
        ("1S", "invalid duration \"1S\": unit must be s, m or h, not \"S\""),
        ("1.5s", "invalid duration \"1.5s\": unit must be s, m or h, not \".5s\""),
        ("5 minutes", "invalid duration \"5 minutes\": unit must be s, m or h, not \" minutes\""),
        ("30", "invalid duration \"30\": missing unit after the number: unit must be s, m or h"),
        ("s", "invalid duration \"s\": expected a number before the unit, e.g. 30s (units: s, m or h)"),
        ("-1s", "invalid duration \"-1s\": cannot be negative (expected e.g. 30s; units: s, m or h)"),
        (
            "99999999999999999999s",
            "invalid duration \"99999999999999999999s\": longer than the maximum of 18446744073709551615s",
        ),
    ];
    for (text, want) in refused {
        assert_eq!(parse_interval(text).unwrap_err().to_string(), want, "{text:?}");
    }
}

#[test]
fn interval_and_wait_settings_name_their_field() {
    let cases = [
        (
            "inbox_max_age = \"2d\"\n",
            "config.toml:1:17: inbox_max_age: invalid duration \"2d\": unit must be s, m or h",
        ),
        ("ooo_pause = \"2s\"\n", "config.toml:1:13: ooo_pause: invalid duration \"2s\": unit must be m, h, d, w or bd"),
        (
            "on_uncertain = \"stop\"\n",
            "config.toml:1:16: on_uncertain: unknown value \"stop\" (expected \"continue\" or \"hold\")",
        ),
    ];
    for (prefix, want) in cases {
        let err = parse(&format!("{prefix}{MAILBOX}")).unwrap_err();
        assert!(err.contains(want), "{prefix:?}: expected {want:?} in {err:?}");
    }
    assert_eq!(parse(&format!("ooo_pause = \"0d\"\n{MAILBOX}")).unwrap().ooo_pause, crate::schedule::Wait::Days(0));
    let mailbox = "[mailboxes.m]\nfrom = \"a@b.test\"\noutbox = \"o\"\nmin_gap = \"0m\"\n";
    assert!(
        parse(mailbox).unwrap_err().contains("mailboxes.m: min_gap: invalid duration \"0m\": must be more than zero")
    );
}

#[test]
fn http_is_off_unless_its_table_is_there_and_listens_on_loopback_by_default() {
    assert!(parse(MAILBOX).unwrap().http.is_none());
    let c = parse(&format!("{MAILBOX}[http]\n")).unwrap();
    let http = c.http.unwrap();
    assert_eq!(http.listen.to_string(), "127.0.0.1:8025");
    assert!(http.public_url.is_none() && http.token.is_none());
}

#[test]
fn http_errors_name_their_field_and_place() {
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    let write = |name: &str, text: &str, mode: u32| {
        std::fs::write(dir.path().join(name), text).unwrap();
        std::fs::set_permissions(dir.path().join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("open.token", "a-token-of-thirty-two-characters", 0o644);
    write("short.token", "abc\n", 0o600);
    write("spaced.token", "a token with spaces in it, long enough\n", 0o600);
    write("good.token", "a-token-of-thirty-two-characters\n", 0o600);
    let cases = [
        ("listen = \"localhost\"\n", "config.toml:5:10: http: listen: invalid address \"localhost\" (expected IP:PORT"),
        (
            "public_url = \"http://go.example.com\"\n",
            "config.toml:5:14: http: public_url: \"http://go.example.com\" must start with https://",
        ),
        ("token_file = \"open.token\"\n", "http: token_file: "),
        ("token_file = \"open.token\"\n", "open.token is readable by every user (mode 644); run chmod o-rwx on it"),
        ("token_file = \"short.token\"\n", "short.token is 3 characters long; use at least 16"),
        ("token_file = \"spaced.token\"\n", "may only hold printable ASCII without spaces"),
        ("token_file = \"missing.token\"\n", "missing.token: No such file"),
        ("tokenfile = \"x\"\n", "unknown field `tokenfile`, expected one of `listen`, `public_url`, `token_file`"),
    ];
    for (line, want) in cases {
        let text = format!("{MAILBOX}[http]\n{line}");
        let err = Config::parse(&dir.path().join("config.toml"), &text).unwrap_err().to_string();
        assert!(err.contains(want), "{line:?}: expected {want:?} in {err:?}");
        assert!(!err.contains("thirty-two"), "a token never shows in an error: {err}");
    }
    let text = format!(
        "{MAILBOX}[http]\nlisten = \"[::1]:9000\"\npublic_url = \"https://go.example.com/\"\ntoken_file = \"good.token\"\n"
    );
    let http = Config::parse(&dir.path().join("config.toml"), &text).unwrap().http.unwrap();
    assert_eq!(http.listen.to_string(), "[::1]:9000");
    assert_eq!(http.public_url.as_deref(), Some("https://go.example.com"));
    assert_eq!(http.token.unwrap().expose(), "a-token-of-thirty-two-characters");
}

#[test]
fn an_unset_password_env_is_the_one_problem_reported() {
    let text = "[mailboxes.m]\nfrom = \"a@b.test\"\nsmtp = \"smtps://h\"\nusername = \"u\"\n\
                password_env = \"CADENCED_TEST_PW_UNSET\"\nimap = \"imaps://h\"\n";
    let err = parse(text).unwrap_err();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("config.toml:5:16: mailboxes.m: password_env: environment variable CADENCED_TEST_PW_UNSET"));
    assert!(err.contains("Environment= or EnvironmentFile="), "{err}");
    assert!(!err.contains("neither password_file nor password_env"), "{err}");
    assert!(!err.contains("imap: needs"), "{err}");
    // Nothing set at all: that is the problem, with what to add.
    let err = parse("[mailboxes.m]\nfrom = \"a@b.test\"\nsmtp = \"smtps://h\"\nusername = \"u\"\n").unwrap_err();
    assert!(
        err.contains(
            "config.toml:4:12: mailboxes.m: username is set but neither password_file nor password_env: \
                      add password_file = \"/etc/cadenced/m.pass\""
        ),
        "{err}"
    );
    let err = parse("[mailboxes.m]\nfrom = \"a@b.test\"\nsmtps = \"x\"\nusername = \"u\"\npassword_file = \"nope\"\n")
        .unwrap_err();
    assert!(!err.contains("create it with the password"), "a toml error comes alone: {err}");
    let err = parse("[mailboxes.m]\nfrom = \"a@b.test\"\nsmtp = \"smtps://h\"\nusername = \"u\"\npassword_file = \"/nonexistent/pw\"\n")
        .unwrap_err();
    assert!(err.contains("(create it with the password on one line, then chmod 600 it)"), "{err}");
}

#[test]
fn a_top_level_key_after_a_table_says_where_it_belongs() {
    let text = format!("{MAILBOX}owner = \"ada@seller.test\"\n\ncalendar = \"us\"\n\n[calendars.us]\n");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("config.toml:6:1: unknown field `calendar`"), "{err}");
    assert!(
        err.ends_with(
            "`calendar` is a top-level key: move it above the first [table] line (every key after \
             [mailboxes.sales] belongs to that table)"
        ),
        "{err}"
    );
    // A key no table has is a plain typo: no such hint.
    let err = parse(&format!("{MAILBOX}frm = \"x\"\n")).unwrap_err();
    assert!(!err.contains("top-level"), "{err}");
}

#[test]
fn a_microsoft_mailbox_needs_only_provider_and_client_id() {
    let dir = tempfile::tempdir().unwrap();
    let text = "database = \"data/cadenced.db\"\n[mailboxes.sales]\nfrom = \"Ada <ada@contoso.test>\"\n\
                [mailboxes.sales.oauth2]\nprovider = \"microsoft\"\nclient_id = \"app-id\"\n";
    let c = Config::parse(&dir.path().join("config.toml"), text).unwrap();
    let m = &c.mailboxes["sales"];
    let Delivery::Smtp(smtp) = &m.delivery else { panic!("smtp") };
    assert_eq!((smtp.host.as_str(), smtp.port, smtp.security), ("smtp.office365.com", 587, Security::StartTls));
    assert_eq!(smtp.username.as_deref(), Some("ada@contoso.test"));
    assert!(matches!(smtp.credential, Some(crate::config::Credential::OAuth2(_))));
    let imap = m.imap.as_ref().unwrap();
    assert_eq!((imap.host.as_str(), imap.port, imap.security), ("outlook.office365.com", 993, Security::Tls));
    let oauth = m.oauth2.as_ref().unwrap();
    assert_eq!(oauth.token_file, dir.path().join("data").join("tokens").join("sales.json"));
}

#[test]
fn an_oauth_mailbox_refuses_a_password_at_its_line() {
    let text = "[mailboxes.sales]\nfrom = \"ada@example.test\"\npassword_env = \"PW\"\n\
                [mailboxes.sales.oauth2]\nprovider = \"google\"\nclient_id = \"id\"\n";
    let err = parse(text).unwrap_err();
    assert!(err.contains(":3:"), "{err}");
    assert!(err.contains("signs in with OAuth, not a password: remove password_file and password_env"), "{err}");
}

#[test]
fn an_oauth_table_error_names_its_key_and_line() {
    let text = "[mailboxes.sales]\nfrom = \"ada@example.test\"\n\
                [mailboxes.sales.oauth2]\nprovider = \"google\"\nclient_id = \"id\"\nimap_mechanism = \"plain\"\n";
    let err = parse(text).unwrap_err();
    assert!(err.contains(":6:"), "{err}");
    assert!(err.contains("mailboxes.sales: oauth2.imap_mechanism: unknown \"plain\""), "{err}");
}

#[test]
fn top_level_keys_are_exactly_raw_configs_fields() {
    // serde's unknown-field error lists every field RawConfig has.
    let err = toml::from_str::<RawConfig>("no_such_key = 1").unwrap_err().message().to_string();
    let expected = err.split("expected one of ").nth(1).unwrap_or_else(|| panic!("no field list in {err:?}"));
    let mut fields: Vec<&str> = expected.split(", ").map(|f| f.trim_matches('`')).collect();
    let mut keys = TOP_LEVEL_KEYS.to_vec();
    fields.sort_unstable();
    keys.sort_unstable();
    assert_eq!(keys, fields);
}

#[test]
fn dns_servers_take_an_ip_with_or_without_a_port() {
    let c = parse(&format!("dns_servers = [\"127.0.0.1:5353\", \"::1\"]\nverify_leads = true\n{MAILBOX}")).unwrap();
    assert_eq!(c.dns_servers, vec!["127.0.0.1:5353".parse().unwrap(), "[::1]:53".parse().unwrap()]);
    assert!(c.verify_leads);
    let e = parse(&format!("dns_servers = [\"dns.example\"]\n{MAILBOX}")).unwrap_err();
    assert!(e.contains("config.toml:1:16: dns_servers: \"dns.example\" is not an IP address"), "{e}");
}

#[test]
fn disposable_domains_extend_the_shipped_list() {
    let c = parse(&format!("disposable_domains = [\"@burner.test\"]\n{MAILBOX}")).unwrap();
    assert!(c.disposable_domains.contains("burner.test"));
    assert!(c.disposable_domains.contains("mailinator.com"));
    let e = parse(&format!("disposable_domains = [\"nodot\"]\n{MAILBOX}")).unwrap_err();
    assert!(e.contains("disposable_domains: \"nodot\" is not a domain"), "{e}");
}
