//! The bench's cadences (modelled on the shipped ones) and its work folder:
//! `config.toml` with one SMTP mailbox on the sink, the cadences, the database.

use std::path::{Path, PathBuf};

use cadenced::cadence::Cadences;
use cadenced::config::Config;

/// The cadence every due step is in: emails only, no window, so that a due
/// step is sent at once (the tick figure measures find, claim, plan, send).
pub const TICK_CADENCE: &str = "followup";

/// `(name, file text)` of the bench's cadences, modelled on the shipped ones.
pub const CADENCES: [(&str, &str); 3] = [
    (
        "seven-touch",
        r#"description = "Seven touchpoints over three weeks for inbound leads"
mailbox = "sales"
window = "0 * 9-16 * * Mon-Fri"
calendar = "us"

[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Quick question about {{ company }}"
body = """
Hi {{ first_name }},

thanks for your interest. Teams like {{ company }} usually come to us when
follow-ups start slipping through the cracks.

Would a 20-minute call next week be useful?

Ada
"""

[[steps]]
id = "bump-1"
wait = "2bd"
kind = "email"
subject = "Re: Quick question about {{ company }}"
body = """
Hi {{ first_name }},

just bumping this up in case it got buried. Happy to work around your calendar.

Ada
"""

[[steps]]
id = "call-1"
wait = "2bd"
kind = "call"
body = "Call {{ first_name }} at {{ company }} ({{ phone | default('no phone on file') }}): ask how they track follow-ups today."

[[steps]]
id = "linkedin-1"
wait = "1bd"
kind = "linkedin"
blocking = false
body = "Connect with {{ first_name }} on LinkedIn with a short note about {{ company }}."

[[steps]]
id = "case-study"
wait = "2bd"
kind = "email"
subject = "How a team like {{ company }} stopped losing follow-ups"
body = """
Hi {{ first_name }},

a short case study from a team much like yours: three reps, two hundred
leads a week, and no follow-up forgotten since they started.

Ada
"""

[[steps]]
id = "bump-2"
wait = "3bd"
kind = "email"
subject = "Re: How a team like {{ company }} stopped losing follow-ups"
body = """
Hi {{ first_name }},

is improving follow-ups on your list for this quarter at all?

Ada
"""

[[steps]]
id = "breakup"
wait = "4bd"
kind = "email"
subject = "Closing the loop"
body = """
Hi {{ first_name }},

I haven't heard back, so I'll assume the timing isn't right and stop writing.
If that changes, just reply to this email.

Ada
"""
"#,
    ),
    (
        "nurture",
        r#"description = "Slow monthly check-in for leads that said 'not now'"
window = "0 30 10 * * Tue"

[[steps]]
id = "check-in-1"
wait = "4w"
kind = "email"
subject = "Checking in, {{ first_name }}"
body = """
Hi {{ first_name }},

you mentioned the timing wasn't right a while ago. Has anything changed
on your side? Happy to pick things up whenever it suits you.

Ada
"""

[[steps]]
id = "check-in-2"
wait = "4w"
kind = "email"
subject = "Still the right time to talk?"
body = """
Hi {{ first_name }},

one last check-in from me. If a conversation makes sense later in the
year, just reply and I'll get back to you.

Ada
"""
"#,
    ),
    (
        "followup",
        r#"description = "Webinar follow-up: emails only, sent as soon as due"

[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Thanks for joining, {{ first_name }}"
body = """
Hi {{ first_name }},

thanks for joining yesterday's webinar. Here are the slides, and a short
note on how {{ company }} could set up its first cadence in an afternoon.

Ada
"""

[[steps]]
id = "bump"
wait = "2d"
kind = "email"
subject = "Re: Thanks for joining, {{ first_name }}"
body = """
Hi {{ first_name }},

did the slides reach you? Happy to walk {{ company }} through them.

Ada
"""

[[steps]]
id = "value"
wait = "4d"
kind = "email"
subject = "Three follow-up mistakes we see at teams like {{ company }}"
body = """
Hi {{ first_name }},

most teams lose deals in the gap between the second and the third email.
Here is what the teams that do not lose them do differently.

Ada
"""

[[steps]]
id = "breakup"
wait = "7d"
kind = "email"
subject = "Should I close your file?"
body = """
Hi {{ first_name }},

I'll stop writing after this one. If follow-ups become a topic at
{{ company }}, just reply.

Ada
"""
"#,
    ),
];

/// Step ids and kinds of each cadence, as in [`CADENCES`].
pub fn steps_of(cadence: usize) -> &'static [(&'static str, &'static str)] {
    const SEVEN: [(&str, &str); 7] = [
        ("intro", "email"),
        ("bump-1", "email"),
        ("call-1", "call"),
        ("linkedin-1", "linkedin"),
        ("case-study", "email"),
        ("bump-2", "email"),
        ("breakup", "email"),
    ];
    const NURTURE: [(&str, &str); 2] = [("check-in-1", "email"), ("check-in-2", "email")];
    const FOLLOWUP: [(&str, &str); 4] =
        [("intro", "email"), ("bump", "email"), ("value", "email"), ("breakup", "email")];
    match cadence {
        0 => &SEVEN,
        1 => &NURTURE,
        _ => &FOLLOWUP,
    }
}

/// A folder with `config.toml` (one SMTP mailbox `sales` on the sink, no
/// caps), the cadences, and the database `cadenced.db`.
pub struct Workdir {
    pub dir: PathBuf,
}

impl Workdir {
    /// Writes the config and the cadences into `dir` (created if missing).
    pub fn new(dir: &Path, smtp_port: u16) -> Workdir {
        std::fs::create_dir_all(dir.join("cadences")).expect("create workdir");
        let config = format!(
            "database = \"cadenced.db\"\ncadences = \"cadences\"\ntimezone = \"Europe/Berlin\"\n\
             # one tick, then the daemon sleeps until SIGTERM\ntick_interval = \"1h\"\ncalendar = \"us\"\n\n\
             [mailboxes.sales]\nfrom = \"Ada Sales <ada@seller.test>\"\nsmtp = \"smtp://127.0.0.1:{smtp_port}\"\n\n\
             [calendars.us]\nholidays = [\"2026-11-26\", \"2026-12-25\", \"2027-01-01\", \"2027-07-05\"]\n"
        );
        std::fs::write(dir.join("config.toml"), config).expect("write config");
        for (name, text) in CADENCES {
            std::fs::write(dir.join("cadences").join(format!("{name}.toml")), text).expect("write cadence");
        }
        Workdir { dir: dir.to_path_buf() }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join("cadenced.db")
    }

    /// Replaces the database with a copy of `master` (and no WAL, lock or shm
    /// left over), with its send mark: the same database moved, not a restored
    /// copy (which would be reconciled, and held without a Sent folder).
    pub fn load_db(&self, master: &Path) {
        self.remove_db();
        std::fs::copy(master, self.db()).expect("copy the database");
        let mark = cadenced::store::sendmark::path_for(master);
        if mark.exists() {
            std::fs::copy(mark, cadenced::store::sendmark::path_for(&self.db())).expect("copy the send mark");
        }
    }

    pub fn remove_db(&self) {
        for suffix in ["", "-wal", "-shm", ".lock", "-sends", "-sendmark"] {
            let mut name = self.db().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }

    pub fn load(&self) -> (Config, Cadences) {
        let config = Config::load(&self.config()).unwrap_or_else(|e| panic!("bench config: {e}"));
        let cadences = Cadences::load(&config);
        assert!(cadences.broken.is_empty(), "bench cadences: {:?}", cadences.broken);
        (config, cadences)
    }
}
