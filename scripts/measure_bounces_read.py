#!/usr/bin/env python3
"""Measure the bounce classifier on a third set of real messages, against a blind reading only.

Not part of the test suite: it reads checkouts that are not in this repository. The third set is
the sample mail of two more bounce handlers, which come with few expectations of their own:

- PHP Bounce Handler (cfortune/PHP-Bounce-Handler): eml/*;
- the bounce_email Ruby gem (mitio/bounce_email, MIT): test/bounces/*, test/non_bounces/*.

Every message was read blind (scripts/bounce_truth/README.md): what it is (bounce, reply,
auto_reply, complaint, other), which recipients failed, and whether each failed address is dead.
The reading is scripts/bounce_truth/third.tsv. Nothing in the classifier was written or tuned
looking at these messages before they were first measured (BENCHMARKS.md gives that first
measurement); the `tune` half may be looked at since, the `held` half only measured.

    git --git-dir=$(fetch cfortune/PHP-Bounce-Handler) archive HEAD eml | tar x -C /tmp/third/phpbh
    git --git-dir=$(fetch mitio/bounce_email) archive HEAD test | tar x -C /tmp/third/bounce_email
    cargo build && scripts/measure_bounces_read.py --phpbh /tmp/third/phpbh --bounce-email /tmp/third/bounce_email \\
        [--part tune|held|all] [--list]

Rates: kind (a bounce read as a bounce, and what the others were read as; a message the reading
calls no bounce read as none), the recipient set per bounce that names its recipients (an address
matches the one that failed or its original), dead or not per recipient the reading decides.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure_bounces import add_common_args, classify, dead_ok, part, print_parts, tallies, unattributed_verdict  # noqa: E402


def reading(path):
    """{key: (kind, [(recipient or None, dead True/False/None)])} from the TSV."""
    out = {}
    for line in open(path, encoding="utf-8").read().splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 4:
            continue
        key, kind, rcpt, dead = cols[:4]
        entry = out.setdefault(key, (kind, []))
        if kind == "bounce":
            verdict = {"yes": True, "no": False}.get(dead)
            entry[1].append((None if rcpt == "-" else rcpt.lower(), verdict))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phpbh", help="PHP-Bounce-Handler's eml/ extracted (its parent folder)")
    ap.add_argument("--bounce-email", help="bounce_email's test/ extracted (its parent folder)")
    add_common_args(ap)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--reading", default=os.path.join(here, "bounce_truth", "third.tsv"))
    args = ap.parse_args()
    read = reading(args.reading)

    paths = {}
    for prefix, root in (("phpbh", args.phpbh), ("bounce_email", args.bounce_email)):
        if not root:
            continue
        for dirpath, _, names in os.walk(root):
            for n in names:
                key = f"{prefix}/{n}"
                if key in read:
                    paths[key] = os.path.join(dirpath, n)
    if not paths:
        ap.error("no message of the reading found: give --phpbh and/or --bounce-email")
    keys = sorted(paths)
    got = classify(args.cadenced, [paths[k] for k in keys])

    names, parts, rates, misread, lines, sizes = tallies(args.part)
    for key in keys:
        p = part(key)
        sizes[p] += 1
        r = rates[p]
        kind, rows = read[key]
        doc = got.get(paths[key], {"kind": "none", "recipients": []})
        if kind != "bounce":
            ok = doc["kind"] != "bounce"
            r["kind (not bounces)"].add(ok)
            if not ok:
                lines[p].append(f"KIND   {key}: got bounce, read as {kind}")
            continue
        ok = doc["kind"] == "bounce"
        r["kind (bounces)"].add(ok)
        if not ok:
            misread[p][doc["kind"]] += 1
            lines[p].append(f"KIND   {key}: got {doc['kind']}, read as bounce")
        ours = {x["address"].lower(): x for x in doc["recipients"]}
        for x in doc["recipients"]:
            if x.get("original"):
                ours.setdefault(x["original"].lower(), x)
        named = [a for a, _ in rows if a]
        if named:
            ok = len(doc["recipients"]) == len(set(named)) and all(a in ours for a in named)
            r["recipient set, per message"].add(ok)
            if not ok:
                lines[p].append(f"RCPT   {key}: got {sorted(x['address'].lower() for x in doc['recipients'])}, read {named}")
        for i, (address, dead) in enumerate(rows):
            if dead is None:
                continue
            found = ours.get(address) if address else None
            if found is None and not doc["recipients"]:
                found = unattributed_verdict(doc)
            ok = dead_ok(found, dead, doc["kind"])
            r["dead address or not, per recipient"].add(ok)
            if not ok:
                gotr = found and found["reason"]
                lines[p].append(f"DEAD   {key} #{i} {address}: got {found and found['permanent']} ({gotr}), read {dead}")

    print(f"third set: {len(keys)} messages (tune {sizes[0]}, held out {sizes[1]})")
    keys = ["kind (bounces)", "kind (not bounces)", "recipient set, per message", "dead address or not, per recipient"]
    print_parts(parts, names, sizes, rates, keys, lines, args, misread)


if __name__ == "__main__":
    sys.exit(main())
