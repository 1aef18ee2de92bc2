#!/usr/bin/env python3
"""Measure the bounce classifier on a second set of real bounces: other parsers' test corpora.

Not part of the test suite: it reads checkouts that are not in this repository. The first set
(Sisimai's) is measured by scripts/measure_bounces.py; this one covers mail systems that set has
little of (older Exchange, qmail, Yahoo, Postfix, Sendmail, GroupWise, list servers), with the
expectations the projects' own tests hold:

- GNU Mailman's bounce detectors, flufl.bounce (LGPL-3):
  flufl/bounce/tests/data/*.txt with the recipient sets of flufl/bounce/_detectors/tests/detectors.py
  (a temporary failure there is a delay: not a dead address);
- Mail::DeliveryStatus::BounceParser (Perl, same terms as Perl):
  t/corpus/*.msg with the expectations of its t/*.t, transcribed below (BOUNCEPARSER): bounce or
  not, the recipients, the reason (its std_reason), the original's Message-ID.

    git --git-dir=$(fetch wRAR/flufl.bounce) archive HEAD | tar x -C /tmp/flufl
    git --git-dir=$(fetch rjbs/Mail-DeliveryStatus-BounceParser) archive HEAD | tar x -C /tmp/bp
    cargo build && scripts/measure_bounces_other.py --flufl /tmp/flufl --bounceparser /tmp/bp \\
        [--part tune|held|all] [--list]

Each message is split into `tune` and `held` by a hash of its name, as in measure_bounces.py: only
the tune part's failures are listed unless --show-held is given.

Rates: kind (a bounce read as a bounce; what the others were read as is counted: a bounce read as
a reply stops the lead as replied, one read as "other" lets the next follow-up go to a dead
address), the recipient set per message (case-insensitive), the reason and dead-or-not per
recipient where the source says, and the original's Message-ID where the source gives it. A
recipient is the address that failed or the original one beside it (RFC 3464 Original-Recipient,
Sendmail's "expanded from"): BounceParser's tests expect the original, flufl.bounce's either. A
notice with no readable recipient is judged by its own verdict (`unattributed`, which the tick
gives the lead its returned Message-ID names) where the source names no recipient.

Dead or not is also measured against the blind reading of each notice, scripts/bounce_truth/other.tsv
(see scripts/bounce_truth/README.md).

The numbers before and after each round are in BENCHMARKS.md, "Bounce classifier on unseen bounces".
"""

import argparse
import ast
import glob
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure_bounces import (  # noqa: E402  (the same runner, rates and rules as the first set's)
    add_common_args,
    classify,
    dead_ok,
    load_truth,
    print_parts,
    tallies,
    unattributed_verdict,
)

# BounceParser's std_reason: the reasons of ours that agree, and whether the address is dead.
STD_REASON = {
    "user_unknown": ({"userunknown", "hasmoved", "hostunknown", "notaccept"}, True),
    "domain_error": ({"hostunknown", "notaccept", "networkerror", "userunknown"}, True),
    "over_quota": ({"mailboxfull", "exceedlimit"}, False),
    "user_disabled": ({"suspend"}, False),
    "spam": (
        {"spamdetected", "blocked", "policyviolation", "rejected", "filtered", "contenterror", "securityerror",
         "virusdetected"},
        False,
    ),
}

# Refusals to relay are a domain_error to BounceParser, and not a dead address to the reference
# vocabulary (Sisimai's norelaying): the reason is compared, dead-or-not is not.
RELAY = {"norelaying", "hostunknown", "notaccept", "userunknown", "networkerror"}

UNKNOWN = "recipient@example.net"

# The expectations of Mail::DeliveryStatus::BounceParser's t/*.t, by corpus file (glob patterns
# expand in the checkout). Keys: bounce (True, False, or "delay": its "not a bounce - transient
# nonfatal error", a delay notice to us), rcpt (the addresses; a list of alternatives where the test
# accepts either), reason (std_reason), dead (overrides the reason's), msgid.
BOUNCEPARSER = {
    "aol.attachment.msg": {"bounce": True, "rcpt": ["exampleuser@aol.com"]},
    "aol-senderblock.msg": {"bounce": True, "rcpt": ["mykewlaolacct@aol.com"]},
    "autoreply.msg": {"bounce": False},  # a todo in the test: not checked by it, but not a bounce.
    "iis-multiple-bounce.msg": {
        "bounce": True,
        "rcpt": ["bounced1@example.net", "bounced2@example.net", "bounced3@example.net", "bounced4@example.net"],
    },
    "junkemailfilter.msg": {"bounce": True, "reason": "spam"},
    "malformed-dns.msg": {"bounce": True, "reason": "domain_error"},
    "message-too-large*.msg": {"bounce": True, "dead": False},
    "misidentified-recipient.msg": {"bounce": True, "rcpt": ["john.b@b.c"]},
    "no-message-collected.msg": {"bounce": True},
    "non-autoreply.msg": {"bounce": True},
    "aol-vacation.msg": {"bounce": False},
    "polish-autoreply.msg": {"bounce": False},
    "bluebottle.msg": {"bounce": False},
    "boxbe-cr.msg": {"bounce": False},
    "boxbe-cr2.msg": {"bounce": False},
    "whitelist.msg": {"bounce": False},
    "not-a-relay.msg": {"bounce": True, "reason": "domain_error", "relay": True},
    "postfix.msg": {
        "bounce": True,
        "rcpt": ["bounce@dest.example.com"],
        "msgid": "<20060527213404.GN13012@mta.domain-1.com>",
    },
    "postfix-orig.msg": {"bounce": True, "rcpt": [["original@dest.example.com", "final@dest.example.com"]]},
    "aol.unknown.msg": {
        "bounce": True,
        "rcpt": [UNKNOWN],
        "reason": "user_unknown",
        "msgid": "<200606062115.k56LFe7d012436@somehost.example.com>",
    },
    "qmail.unknown.msg": {
        "bounce": True,
        "rcpt": [UNKNOWN],
        "reason": "user_unknown",
        "msgid": "<200608282008.k7SK8Bbu032023@somehost.example.com>",
    },
    "postfix-malformed.msg": {
        "bounce": True,
        "rcpt": ["exampleuser@yyahoo.com"],
        "reason": "domain_error",
        "msgid": "<42@server4.example.co.uk>",
    },
    "quota*.msg": {"bounce": True, "reason": "over_quota"},
    "rcpthosts.msg": {"bounce": True, "reason": "domain_error", "relay": True},
    "relaying-denied.msg": {"bounce": True, "reason": "domain_error", "relay": True},
    "spam-bogus-email-in-report.msg": {"bounce": True},
    "spam-lots-of-bogus-addresses.msg": {"bounce": True},
    "spam-rejection*.msg": {"bounce": True, "reason": "spam"},
    "spam-with-image.msg": {"bounce": True},
    "spamassassin.msg": {"bounce": True, "reason": "spam"},
    "spambouncer.msg": {"bounce": True, "reason": "spam"},
    "postfix-smtp-550.msg": {"bounce": True},
    "surfcontrol-extra-newline.msg": {"bounce": True},
    "user-unknown-disabled.msg": {"bounce": True, "reason": "user_disabled"},
    "polish-unknown.msg": {"bounce": True, "reason": "user_disabled"},
    "sendmail-host-unknown.msg": {"bounce": True, "rcpt": ["recipient@#example.net"], "reason": "domain_error"},
    "postfix-host-unknown.msg": {"bounce": True, "rcpt": ["bounce@dest.example.com"], "reason": "domain_error"},
    "no-such-domain.msg": {"bounce": True, "rcpt": [UNKNOWN], "reason": "domain_error"},
    "warning-1.msg": {"bounce": True, "reason": "user_unknown"},
    "warning-2.msg": {"bounce": True, "reason": "user_unknown"},
    "warning-3.msg": {"bounce": True, "reason": "user_unknown"},
    "warning-4.msg": {"bounce": True, "reason": "over_quota"},
    "warning-5.msg": {"bounce": True},
    "warning-6.msg": {"bounce": False},  # an out-of-office reply
    "warning-7.msg": {"bounce": True, "reason": "over_quota"},
    "warning-8.msg": {"bounce": "delay"},
    "warning-9.msg": {"bounce": True},
}
# t/various-unknown.t: each of these is a "user unknown" of recipient@example.net (its default
# std_reason) unless said otherwise.
for _f in [
    "att-via-sendmail.unknown.msg", "comcast-via-sendmail.unknown.msg", "cox-via-sendmail.unknown.msg",
    "generic-postfix-via-sendmail.unknown.msg", "gmail-via-sendmail.unknown.msg", "msn-via-sendmail.unknown.msg",
    "yahoo-via-sendmail.unknown.msg", "hotmail-via-sendmail.unknown.msg", "domino.unknown.msg",
    "exchange.unknown.msg", "novell-with-rhs.msg", "yahoo-user-unknown.msg", "me-user-unknown.msg",
    "cam-unknown.msg", "rcpt-dne.msg", "mailbox-unknown.msg", "deactivated-mailbox.msg", "user-unknown-dne.msg",
    "badrcptto.msg", "nomailbox.msg", "doesnotexist.msg", "doesnotexist2.msg", "user-unknown-not-active.msg",
    "user-unknown-not.msg", "user-unknown-polish.msg", "user-unknown-bad.msg",
]:
    BOUNCEPARSER.setdefault(_f, {"bounce": True, "rcpt": [UNKNOWN], "reason": "user_unknown"})
BOUNCEPARSER["long-smtp.msg"] = {"bounce": True, "rcpt": [UNKNOWN]}  # std_reason 'unknown'


def flufl_expectations(root):
    """[(path, expectation)] from flufl.bounce's detector tests."""
    src = open(os.path.join(root, "flufl/bounce/_detectors/tests/detectors.py"), encoding="utf-8").read()
    tree = ast.parse(src)
    data = next(
        n.value for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "DATA" for t in n.targets)
    )
    rows = ast.literal_eval(data)
    by_file = {}
    for row in rows:
        _module, fname, addrs = row[:3]
        temporary = len(row) > 3 and row[3]
        addrs = [a.decode().lower() for a in addrs]
        if not addrs and fname in by_file:
            continue  # a detector that is only asked not to throw (groupwise_02)
        by_file[fname] = {"bounce": "delay" if temporary else True, "rcpt": addrs}
    data_dir = os.path.join(root, "flufl/bounce/tests/data")
    return [(os.path.join(data_dir, f), e) for f, e in sorted(by_file.items()) if os.path.exists(os.path.join(data_dir, f))]


def bounceparser_expectations(root):
    out = {}
    corpus = os.path.join(root, "t", "corpus")
    for pattern, e in BOUNCEPARSER.items():
        for path in sorted(glob.glob(os.path.join(corpus, pattern))):
            out.setdefault(path, e)
    return sorted(out.items())


def part(name):
    """0 = tune, 1 = held out: fixed by the name, never by the outcome."""
    return hashlib.sha256(b"cadenced-other-corpus:" + name.encode()).digest()[0] % 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flufl", help="a checkout of flufl.bounce")
    ap.add_argument("--bounceparser", help="a checkout of Mail-DeliveryStatus-BounceParser")
    add_common_args(ap)
    ap.add_argument(
        "--truth",
        action="append",
        help="the blind reading, TSV (default scripts/bounce_truth/other.tsv; repeatable)",
    )
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    truth = load_truth(args.truth or [os.path.join(here, "bounce_truth", "other.tsv")])
    if not args.flufl and not args.bounceparser:
        ap.error("give --flufl and/or --bounceparser")

    cases = []
    if args.flufl:
        cases += [("flufl", p, e) for p, e in flufl_expectations(args.flufl)]
    if args.bounceparser:
        cases += [("bounceparser", p, e) for p, e in bounceparser_expectations(args.bounceparser)]
    got = classify(args.cadenced, [p for _, p, _ in cases])

    names, parts, rates, misread, lines, sizes = tallies(args.part)
    for source, path, e in cases:
        f = f"{source}/{os.path.basename(path)}"
        p = part(f)
        sizes[p] += 1
        r = rates[p]
        doc = got.get(path, {"kind": "none", "recipients": [], "original_message_ids": []})
        kind = doc["kind"]
        # A recipient is named by the address that failed or, when the report gives it apart
        # (RFC 3464 Original-Recipient), the one the sender gave: the parsers' tests differ on which
        # they expect (BounceParser prefers the original, flufl.bounce either).
        ours = {x["address"].lower(): x for x in doc["recipients"]}
        for x in doc["recipients"]:
            if x.get("original"):
                ours.setdefault(x["original"].lower(), x)
        if e["bounce"] is False:
            ok = kind != "bounce"
            r["kind (not bounces)"].add(ok)
            if not ok:
                lines[p].append(f"KIND   {f}: got bounce, want not a bounce")
            continue
        if e["bounce"] == "delay":
            # A delay notice: a bounce (not dead) or nothing; never a reply.
            ok = kind in ("bounce", "other")
            r["kind (delays: bounce or other)"].add(ok)
            if not ok:
                lines[p].append(f"KIND   {f}: got {kind}, want bounce (delay) or other")
        else:
            ok = kind == "bounce"
            r["kind (bounces)"].add(ok)
            if not ok:
                misread[p][kind] += 1
                lines[p].append(f"KIND   {f}: got {kind}, want bounce")
        want = e.get("rcpt")
        if want is not None:
            alternatives = [w if isinstance(w, list) else [w] for w in want]
            ok = len(doc["recipients"]) == len(alternatives) and all(any(a in ours for a in alt) for alt in alternatives)
            r["recipient set, per message"].add(ok)
            if not ok:
                got_rcpt = sorted(x["address"].lower() for x in doc["recipients"])
                lines[p].append(f"RCPT   {f}: got {got_rcpt}, want {want}")
        # Per recipient: the expected ones, else every one we found (the source names none), else
        # the notice's own verdict, which the tick gives the lead its returned Message-ID names.
        fallback = [unattributed_verdict(doc)]
        targets = [next((ours[a] for a in alt if a in ours), None) for alt in alternatives] if want else list(
            doc["recipients"]
        ) or fallback
        reason = e.get("reason")
        dead = e.get("dead")
        if reason is not None and dead is None and not e.get("relay"):
            dead = STD_REASON[reason][1]
        if e["bounce"] == "delay":
            dead = False
        for i, x in enumerate(targets):
            gotr = x and x["reason"]
            if reason is not None:
                accepted = RELAY if e.get("relay") else STD_REASON[reason][0]
                ok = x is not None and x["reason"] in accepted
                r["reason, per recipient"].add(ok)
                if not ok:
                    lines[p].append(f"REASON {f} #{i}: got {gotr} ({x and x['status']}), want {reason}")
            if dead is not None:
                ok = dead_ok(x, dead, kind)
                r["dead address or not, per recipient"].add(ok)
                if not ok:
                    lines[p].append(f"DEAD   {f} #{i}: got {x and x['permanent']} ({gotr}), want {dead}")
                key = f"{f}#{i}"
                if truth:
                    r["rows adjudicated"].add(truth.get(key) is not None)
                if truth.get(key) is not None:
                    adjudicated = truth[key]
                    ok = dead_ok(x, adjudicated, kind)
                    r["dead or not, adjudicated truth"].add(ok)
                    if not ok:
                        lines[p].append(f"TRUTH  {f} #{i}: got {x and x['permanent']} ({gotr}), truth {adjudicated}")
        if e.get("msgid"):
            ok = e["msgid"] in doc.get("original_message_ids", [])
            r["original Message-ID"].add(ok)
            if not ok:
                lines[p].append(f"MSGID  {f}: got {doc.get('original_message_ids')}, want {e['msgid']}")

    print(f"other corpora: {len(cases)} messages (tune {sizes[0]}, held out {sizes[1]})")
    keys = ["kind (bounces)", "kind (delays: bounce or other)", "kind (not bounces)", "recipient set, per message",
            "reason, per recipient", "dead address or not, per recipient", "rows adjudicated",
            "dead or not, adjudicated truth", "original Message-ID"]
    print_parts(parts, names, sizes, rates, keys, lines, args, misread)


if __name__ == "__main__":
    sys.exit(main())
