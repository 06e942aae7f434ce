#!/usr/bin/env python3
"""No include cycles between the modules of orchestrator/.

A module is a .c file and the headers named after it (x.c, x.h, x_int.h).
An edge x -> y: a file of x includes a header of y. Prints every cycle and
exits 1 if there is one. Also: no file of common/, protocols/, devices/, sim/
or planners/ includes an orchestrator header. Also: the campaign module's files (campaign, workflow,
actions, approve) include nothing of the lab's (orch_int.h, control, zloop, auth).

usage: scripts/check_includes.py [ROOT]   (default: the repository)
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"orchestrator/((?:[a-z]+/)?[A-Za-z0-9_]+)\.h"', re.M)
CAMPAIGN_SIDE = {"campaign", "workflow", "actions", "approve"}
LAB_INTERNALS = {"orch_int.h", "control_req.h", "auth.h", "notify.h", "hub_replica.h"}


def module(name):
    stem = os.path.splitext(name)[0]
    return stem[:-4] if stem.endswith("_int") else stem


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    d = os.path.join(root, "orchestrator")
    edges = {}
    bad = []
    names = []
    for sub in ("", "hub", "review", "cli"):
        for f in sorted(os.listdir(os.path.join(d, sub))):
            if f.endswith((".c", ".h")):
                names.append(os.path.join(sub, f) if sub else f)
    for f in names:
        with open(os.path.join(d, f), encoding="utf-8") as fh:
            text = fh.read()
        m = module(f)
        for inc in INCLUDE.findall(text):
            if m in CAMPAIGN_SIDE and inc + ".h" in LAB_INTERNALS:
                bad.append("orchestrator/%s includes orchestrator/%s.h, the lab's" % (f, inc))
            t = module(inc + ".h")
            if t != m:
                edges.setdefault(m, set()).add(t)
    # cycles: Tarjan's strongly connected components
    index, low, on, stack, sccs = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    # nothing outside orchestrator/ includes an orchestrator header
    for top in ("common", "protocols", "devices", "sim", "planners"):
        for dirpath, _, fs in os.walk(os.path.join(root, top)):
            for f in sorted(fs):
                if f.endswith((".c", ".h")):
                    with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                        if INCLUDE.search(fh.read()):
                            bad.append("%s includes an orchestrator header" % os.path.relpath(os.path.join(dirpath, f), root))
    for comp in sccs:
        bad.append("include cycle between orchestrator modules: " + " <-> ".join(comp))
    for b in bad:
        print(b)
    if not bad:
        print("orchestrator includes: %d modules, no cycles" % len(edges))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
