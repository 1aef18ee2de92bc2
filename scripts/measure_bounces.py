#!/usr/bin/env python3
"""Measure the bounce classifier against the reference parser (Sisimai) on mail it was not tuned on.

Not part of the test suite: it reads a Sisimai checkout that is not in this repository.

    git --git-dir=/path/to/p5-sisimai.git archive HEAD | tar x -C /tmp/sisimai
    cargo build && scripts/measure_bounces.py /tmp/sisimai [--part tune|held|all] [--list]

The expected verdicts come from Sisimai's own per-MTA test files (t/6xx-lhost-*.t,
t/3xx-rhost-*.t, t/890-rfc3464.t, ...): for each message of set-of-emails/maildir/bsd, one
entry per bounced recipient with the enhanced status code, the reason and whether the bounce is
hard. The tests do not name the recipients; when perl can load the checkout's lib/ (it needs
Class::Accessor::Lite and JSON: `apt-get install libclass-accessor-lite-perl libjson-perl`), the
script runs the reference parser on the same messages for the addresses, in the tests' order.
Otherwise the recipient rate compares only the number of bounced recipients.

Dead address or not is measured twice: against the reference's `hardbounce`, and against the blind
reading of each notice in scripts/bounce_truth/sisimai.tsv (see scripts/bounce_truth/README.md: the
reference's verdicts contradict themselves on the same words). A recipient not found in a notice is
left alive by the product, which is right for one that is not dead unless the notice was read as a
reply; a notice naming no recipient is judged by its own verdict (`unattributed`).

Messages already in tests/fixtures/bounces are left out. The rest is split in two by a hash of the
file name: `tune` (whose failures may be looked at one by one) and `held` (measured only: --list
refuses to print its failures unless --show-held is given too).

Sisimai 5 has reasons our vocabulary (Sisimai 4.25's) does not: any reason Sisimai 4.25 gave the
same kind of failure counts as agreement (see V5_REASONS).

The second set (other mail systems: flufl.bounce's and BounceParser's corpora) is measured by
scripts/measure_bounces_other.py; both sets' numbers before and after each round are in
BENCHMARKS.md, "Bounce classifier on unseen bounces". To reproduce them:

    git --git-dir=$(fetch sisimai/p5-sisimai) archive HEAD | tar x -C /tmp/sisimai
    apt-get install libclass-accessor-lite-perl libjson-perl
    cargo build && scripts/measure_bounces.py /tmp/sisimai --part tune && scripts/measure_bounces.py /tmp/sisimai --part held
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict

# Sisimai 5's new reasons, and the 4.25 reasons they were split out of (on the messages both versions
# have expectations for, 4.25 gave authfailure's messages blocked, policyviolation or securityerror).
V5_REASONS = {
    "authfailure": {"securityerror", "policyviolation", "blocked"},  # SPF/DKIM/DMARC (X.7.26 ...)
    "badreputation": {"blocked", "rejected"},  # the sending IP's or domain's reputation
    "requireptr": {"blocked"},  # no reverse DNS for the sending IP
    "notcompliantrfc": {"contenterror"},  # the message breaks RFC 5322
    "speeding": {"toomanyconn"},  # rate limits
    "failedstarttls": {"securityerror"},
}
NOT_BOUNCE = {"delivered": "other", "feedback": "complaint", "optout": "unsubscribe", "vacation": "auto_reply"}

ENTRY = re.compile(r"'(\d+)'\s*=>\s*\[(.*?)\]\s*\]\s*,", re.S)
ROW = re.compile(r"\[\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*(\d)(?:\s*,\s*'([^']*)')?")
ENGINE = re.compile(r"my \$enginename\s*=\s*'([^']+)'")

PERL = r"""
use strict; use Sisimai; use JSON;
my %out;
for my $f (@ARGV) {
    my $v = Sisimai->rise($f, 'delivered' => 1, 'vacation' => 1) || [];
    $out{$f} = [map { [$_->recipient->address, $_->reason, $_->hardbounce, $_->deliverystatus] } @$v];
}
print JSON->new->canonical->encode(\%out);
"""


def expectations(root):
    """{file name: [(status, reason, hard)]} from the test files."""
    out = {}
    tdir = os.path.join(root, "t")
    for name in sorted(os.listdir(tdir)):
        if not name.endswith(".t"):
            continue
        text = open(os.path.join(tdir, name), encoding="utf-8", errors="replace").read()
        engine = ENGINE.search(text)
        if not engine or "isexpected" not in text or "makeinquiry" not in text:
            continue
        engine = engine.group(1).lower()
        if engine in ("arf", "rfc3464", "rfc3834"):
            prefix = engine
        else:
            prefix = ("rhost-" if "-rhost-" in name else "lhost-") + engine
        block = text[text.index("isexpected") :]
        for key, body in ENTRY.findall(block):
            rows = [
                # An ARF report of feedback type opt-out is a request to be removed.
                (s, "optout" if reason == "feedback" and ftype == "opt-out" else reason, int(hard))
                for s, _code, reason, hard, ftype in ROW.findall(body)
            ]
            if rows:
                out[f"{prefix}-{key}.eml"] = rows
    return out


def part(name):
    """0 = tune, 1 = held out: fixed by the name, never by the outcome."""
    return hashlib.sha256(b"cadenced-wide-corpus:" + name.encode()).digest()[0] % 2


def reference_recipients(root, paths):
    """{path: [(address, reason, hard, status)]} from running the reference parser, or None."""
    try:
        run = subprocess.run(
            ["perl", "-I", os.path.join(root, "lib"), "-e", PERL, *paths],
            capture_output=True,
            check=True,
            cwd=root,
        )
        return json.loads(run.stdout)
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        print(f"reference parser not runnable ({e}); recipients compared by count", file=sys.stderr)
        return None


def classify(binary, paths):
    out = {}
    for i in range(0, len(paths), 100):
        chunk = paths[i : i + 100]
        run = subprocess.run([binary, "classify", "--json", *chunk], capture_output=True, check=True)
        for doc in json.loads(run.stdout):
            out[doc["file"]] = doc
    return out


def load_truth(paths):
    """{key: True/False, or None for unclear} from adjudication files (TSV: key, dead yes|no|unclear, quote)."""
    truth = {}
    for path in paths or []:
        for line in open(path, encoding="utf-8").read().splitlines()[1:]:
            cols = line.split("\t")
            if len(cols) >= 2 and cols[1] in ("yes", "no", "unclear"):
                truth[cols[0]] = None if cols[1] == "unclear" else cols[1] == "yes"
    return truth


def unattributed_verdict(doc):
    """The notice's own verdict when it names no recipient, as Recipient::bounced gives it to the lead its
    returned Message-ID names; None without one."""
    u = doc.get("unattributed")
    if not u:
        return None
    dead_reason = u["reason"] in ("userunknown", "hostunknown", "hasmoved", "notaccept")
    temporary = (u.get("status") or "").startswith("4")
    return dict(u, permanent=dead_reason and not (u["reason"] == "notaccept" and temporary))


def dead_ok(found, dead, kind):
    """Whether the product's outcome for one failed recipient is right: its `permanent` verdict when it found
    the recipient; when it found none, the address is left alive, which is right for an address that is not
    dead unless the notice was read as a reply (which stops the lead as replied)."""
    if found is not None:
        return found["permanent"] == dead
    return not dead and kind != "reply"


def add_common_args(ap):
    """The options every measure script takes: the binary, the part, --list and --show-held."""
    ap.add_argument("--cadenced", default="target/debug/cadenced")
    ap.add_argument("--part", choices=["tune", "held", "all"], default="all")
    ap.add_argument("--list", action="store_true", help="print each disagreement")
    ap.add_argument("--show-held", action="store_true", help="with --list: the held-out part's too")


def tallies(part_arg):
    """Empty tallies per part: the part names, the parts asked for, the rates, what bounces were misread
    as, the disagreement lines and the sizes."""
    names = ["tune", "held"]
    parts = [0, 1] if part_arg == "all" else [names.index(part_arg)]
    rates = {p: defaultdict(Rate) for p in (0, 1)}
    misread = {p: Counter() for p in (0, 1)}
    lines = {p: [] for p in (0, 1)}
    return names, parts, rates, misread, lines, Counter()


def print_parts(parts, names, sizes, rates, keys, lines, args, misread=None):
    """The rates of each part asked for, in the order of `keys`, and with --list its disagreements (the
    held part's only with --show-held)."""
    for p in parts:
        print(f"\n== {names[p]} ({sizes[p]} messages)")
        for k in keys:
            print(f"  {k:<40} {rates[p][k]}")
        if misread is not None:
            print("  bounces read as:", dict(misread[p]))
        if args.list and (p == 0 or args.show_held):
            print()
            print("\n".join(lines[p]))


class Rate:
    def __init__(self):
        self.ok = 0
        self.total = 0

    def add(self, ok):
        self.total += 1
        self.ok += bool(ok)

    def __str__(self):
        pct = 100.0 * self.ok / self.total if self.total else 100.0
        return f"{self.ok:4}/{self.total:<4} = {pct:6.2f}%"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sisimai", help="a checkout of p5-sisimai (with t/ and set-of-emails/)")
    add_common_args(ap)
    ap.add_argument("--fixtures", default="tests/fixtures/bounces")
    ap.add_argument(
        "--truth",
        action="append",
        help="the blind reading, TSV (default scripts/bounce_truth/sisimai.tsv; repeatable)",
    )
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    truth = load_truth(args.truth or [os.path.join(here, "bounce_truth", "sisimai.tsv")])

    maildir = os.path.join(args.sisimai, "set-of-emails", "maildir", "bsd")
    known = set(os.listdir(args.fixtures))
    expected = {f: rows for f, rows in expectations(args.sisimai).items() if f not in known}
    missing = [f for f in expected if not os.path.exists(os.path.join(maildir, f))]
    for f in missing:
        del expected[f]
    files = sorted(expected)
    paths = [os.path.join(maildir, f) for f in files]
    abs_paths = [os.path.abspath(p) for p in paths]
    ref = reference_recipients(os.path.abspath(args.sisimai), abs_paths)
    got = classify(args.cadenced, paths)

    names = ["tune", "held"]
    parts = [0, 1] if args.part == "all" else [names.index(args.part)]
    rates = {p: defaultdict(Rate) for p in (0, 1)}
    by_reason = {p: defaultdict(Rate) for p in (0, 1)}
    by_group = {p: defaultdict(lambda: defaultdict(Rate)) for p in (0, 1)}
    confusion = {p: Counter() for p in (0, 1)}
    lines = {p: [] for p in (0, 1)}
    sizes = Counter()
    for f, path, apath in zip(files, paths, abs_paths):
        p = part(f)
        sizes[p] += 1
        rows = expected[f]
        doc = got.get(path, {"kind": "none", "recipients": []})
        group = re.sub(r"-\d+\.eml$", "", f)
        r = rates[p]
        first = rows[0][1]
        if first in NOT_BOUNCE:
            ok = doc["kind"] == NOT_BOUNCE[first]
            r["kind (not bounces)"].add(ok)
            if not ok:
                lines[p].append(f"KIND   {f}: got {doc['kind']}, want {NOT_BOUNCE[first]}")
            continue
        ok = doc["kind"] == "bounce"
        r["kind (bounces)"].add(ok)
        if not ok:
            lines[p].append(f"KIND   {f}: got {doc['kind']}, want bounce")
        # The reference's own recipients, in the tests' order, when it ran and agrees with them.
        refrows = (ref or {}).get(apath)
        addrs = None
        if refrows is not None and len(refrows) == len(rows):
            addrs = [a.lower() for a, *_ in refrows]
            if [x[1] for x in refrows] != [x[1] for x in rows]:
                print(f"note: reference run and tests differ on {f}", file=sys.stderr)
        ours = [x["address"].lower() for x in doc["recipients"]]
        if addrs is not None:
            ok = set(ours) == set(addrs)
        else:
            ok = len(ours) == len(rows)
        r["recipient set, per message"].add(ok)
        by_group[p][group]["rcpt"].add(ok)
        if not ok:
            lines[p].append(f"RCPT   {f}: got {sorted(set(ours))}, want {sorted(set(addrs or []))} ({len(rows)})")
        for i, (status, reason, hard) in enumerate(rows):
            want = reason
            accepted = V5_REASONS.get(reason, {reason})
            if addrs is not None:
                found = next((x for x in doc["recipients"] if x["address"].lower() == addrs[i]), None)
            else:
                found = doc["recipients"][i] if i < len(doc["recipients"]) else None
            if found is None and not doc["recipients"]:
                found = unattributed_verdict(doc)
            ok = found is not None and found["reason"] in accepted
            r["reason, per recipient"].add(ok)
            by_reason[p][want].add(ok)
            by_group[p][group]["reason"].add(ok)
            gotr = found["reason"] if found else None
            if not ok:
                confusion[p][(want, gotr)] += 1
            if not ok:
                lines[p].append(f"REASON {f} #{i}: got {gotr} ({found and found['status']}), want {want} ({status})")
            ok = dead_ok(found, bool(hard), doc["kind"])
            r["dead address or not, per recipient"].add(ok)
            by_group[p][group]["dead"].add(ok)
            if not ok:
                lines[p].append(
                    f"DEAD   {f} #{i}: got {found and found['permanent']} ({gotr}), want {bool(hard)} ({want}, {status})"
                )
            key = f"sisimai/{f}#{i}"
            if truth:
                r["rows adjudicated"].add(truth.get(key) is not None)
            if truth.get(key) is not None:
                dead = truth[key]
                ok = dead_ok(found, dead, doc["kind"])
                r["dead or not, adjudicated truth"].add(ok)
                if not ok:
                    lines[p].append(f"TRUTH  {f} #{i}: got {found and found['permanent']} ({gotr}), truth {dead}")

    print(f"wide corpus: {len(files)} messages not in {args.fixtures} (tune {sizes[0]}, held out {sizes[1]})")
    for p in parts:
        print(f"\n== {names[p]} ({sizes[p]} messages)")
        for k in ["kind (bounces)", "kind (not bounces)", "recipient set, per message", "reason, per recipient",
                  "dead address or not, per recipient", "rows adjudicated", "dead or not, adjudicated truth"]:
            print(f"  {k:<40} {rates[p][k]}")
        print("  per expected reason:")
        for k, v in sorted(by_reason[p].items(), key=lambda kv: -kv[1].total):
            print(f"    {k:<18} {v}")
        print("  per group (reason | dead):")
        for g, v in sorted(by_group[p].items()):
            print(f"    {g:<28} reason {v['reason']}  dead {v['dead']}")
        print("  reason misses (want -> got):", dict(confusion[p].most_common(40)))
        if args.list and (p == 0 or args.show_held):
            print()
            print("\n".join(lines[p]))


if __name__ == "__main__":
    main()
