#!/usr/bin/env python3
"""Check that campaigns of a lab got their weighted share of a step.

share_check.py HUB STEP NAME:WEIGHT... [--tolerance 0.10] [--min-steps N]

The window is from the moment the last of the named campaigns (re)started
(its latest campaign.status event saying running) to the moment the first
of them dispatched its last STEP (it had no new experiment after that). In
that window every campaign had work, so each one's count of STEP attempts
over all of theirs should be its weight over the sum of the weights, within
the tolerance (relative: 0.10 is within 10 % of the weighted share).
Prints one line a campaign; exits 1 when a share is off or the window holds
fewer than --min-steps steps, 2 on bad arguments.
"""
import argparse
import sqlite3
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hub")
    ap.add_argument("step")
    ap.add_argument("campaigns", nargs="+", help="NAME:WEIGHT")
    ap.add_argument("--tolerance", type=float, default=0.10)
    ap.add_argument("--min-steps", type=int, default=30)
    a = ap.parse_args()
    weights = {}
    for c in a.campaigns:
        name, _, w = c.rpartition(":")
        try:
            weights[name] = float(w)
        except ValueError:
            print(f"share_check: '{c}' is not NAME:WEIGHT", file=sys.stderr)
            return 2
    db = sqlite3.connect(f"file:{a.hub}?mode=ro", uri=True, timeout=10)
    ids = {}
    for name in weights:
        row = db.execute("select id from campaigns where name = ?", (name,)).fetchone()
        if not row:
            print(f"share_check: no campaign '{name}' in {a.hub}", file=sys.stderr)
            return 1
        ids[name] = row[0]
    t0 = max(db.execute(
        "select coalesce(max(t_us), 0) from events where campaign = ? and kind = 'campaign.status'"
        " and json_extract(detail, '$.status') = 'running'", (i,)).fetchone()[0] for i in ids.values())
    t1 = min(db.execute("select coalesce(max(queued_us), 0) from steps where campaign = ? and step = ?",
                        (i, a.step)).fetchone()[0] for i in ids.values())
    counts = {name: db.execute("select count(*) from steps where campaign = ? and step = ?"
                               " and queued_us between ? and ?", (i, a.step, t0, t1)).fetchone()[0]
              for name, i in ids.items()}
    total, wsum = sum(counts.values()), sum(weights.values())
    bad = []
    print(f"share of '{a.step}' steps from {t0} to {t1} ({(t1 - t0) / 1e6:.1f} s, {total} steps):")
    for name, n in counts.items():
        want = weights[name] / wsum
        got = n / total if total else 0.0
        off = got / want - 1
        ok = abs(off) <= a.tolerance
        print(f"  {name:<16} weight {weights[name]:<5g} {n:6d} steps  share {got:6.3f}  wanted {want:6.3f}"
              f"  ({off:+.1%}){'' if ok else '  OFF'}")
        if not ok:
            bad.append(name)
    if total < a.min_steps:
        print(f"share_check: only {total} steps in the window (at least {a.min_steps} wanted)", file=sys.stderr)
        return 1
    if bad:
        print(f"share_check: off by more than {a.tolerance:.0%}: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
