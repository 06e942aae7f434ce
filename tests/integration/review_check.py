#!/usr/bin/env python3
"""Checks for test_review.sh: compare labloop's review outputs (show --json,
report HTML, CSV / JSON lines / JSON-LD exports) with the hub itself, read
with Python's sqlite3. Usage: review_check.py WHAT HUB FILE [ARGS...].
Exits non-zero with a message on the first mismatch. Not for: running labloop.
"""
import csv
import html.parser
import json
import math
import sqlite3
import sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}
# SVG elements may be self-closed (<circle .../>): handle_startendtag.


def fail(msg):
    print("review_check: " + msg, file=sys.stderr)
    sys.exit(1)


def hub(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    db.row_factory = sqlite3.Row
    return db


class Strict(html.parser.HTMLParser):
    """Well-formedness: every non-void element closed, in order; collects
    <svg> count, the experiment table's rows and cells, external refs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.svgs, self.rows, self.errors = [], 0, [], []
        self.in_tbody = False
        self.row = None
        self.cell = None
        self.external = []
        self.scripts = 0
        self.doctype = False
        self.text = []

    def handle_decl(self, decl):
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            v = a.get(k) or ""
            if v.startswith("http:") or v.startswith("https:") or v.startswith("//"):
                self.external.append(v)
        if tag == "script":
            self.scripts += 1
        if tag == "svg":
            self.svgs += 1
        if tag == "table" and a.get("id") == "experiments-table":
            self.in_exp_table = True
        if tag == "tbody" and getattr(self, "in_exp_table", False):
            self.in_tbody = True
        if tag == "tr" and self.in_tbody:
            self.row = {"seq": a.get("data-seq"), "cells": []}
        if tag == "td" and self.row is not None:
            self.cell = {"v": a.get("data-v"), "text": ""}
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))

    def handle_startendtag(self, tag, attrs):
        if tag == "svg":
            self.svgs += 1

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack:
            self.errors.append("close </%s> with nothing open at %s" % (tag, self.getpos()))
            return
        top, pos = self.stack.pop()
        if top != tag:
            self.errors.append("</%s> at %s closes <%s> opened at %s" % (tag, self.getpos(), top, pos))
        if tag == "td" and self.cell is not None and self.row is not None:
            self.row["cells"].append(self.cell)
            self.cell = None
        if tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None
        if tag == "tbody":
            self.in_tbody = False
        if tag == "table":
            self.in_exp_table = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data
        self.text.append(data)


def check_report(db_path, report, n_params, n_obj):
    db = hub(db_path)
    p = Strict()
    with open(report, encoding="utf-8") as f:
        p.feed(f.read())
    p.close()
    if not p.doctype:
        fail("report has no <!DOCTYPE html>")
    if p.errors:
        fail("report is not well-formed: " + "; ".join(p.errors[:5]))
    if p.stack:
        fail("report leaves elements open: %s" % p.stack[:5])
    if p.external:
        fail("report refers to the network: %s" % p.external[:3])
    if p.scripts:
        fail("the report file has <script> elements; it should be static")
    want_svgs = 1 + n_params + (1 if n_obj >= 2 else 0) + 1
    if p.svgs < max(4, want_svgs):
        fail("report has %d <svg> plots, expected %d" % (p.svgs, want_svgs))
    c = db.execute("select id from campaigns order by id desc limit 1").fetchone()["id"]
    exps = db.execute("select seq, objectives, status from experiments where campaign=? order by seq",
                      (c,)).fetchall()
    if len(p.rows) != len(exps):
        fail("report's experiment table has %d rows, the hub %d experiments" % (len(p.rows), len(exps)))
    objs = json.loads(db.execute("select objectives from experiments where objectives is not null "
                                 "limit 1").fetchone()[0]).keys()
    for row, e in zip(p.rows, exps):
        if str(e["seq"]) != row["seq"]:
            fail("row for experiment %s, hub has %s" % (row["seq"], e["seq"]))
        # cells: seq, status, origin, params..., objectives...
        if row["cells"][1]["text"] != e["status"]:
            fail("experiment %s: status %r in report, %r in hub" % (e["seq"], row["cells"][1]["text"], e["status"]))
        if e["objectives"]:
            vals = json.loads(e["objectives"])
            for k, name in enumerate(objs):
                cell = row["cells"][3 + n_params + k]
                if cell["v"] is None or float(cell["v"]) != vals[name]:
                    fail("experiment %s: %s is %r in report, %r in hub" % (e["seq"], name, cell["v"], vals[name]))
    text = "".join(p.text)
    n_measured = db.execute("select count(*) from experiments where status='measured'").fetchone()[0]
    if "%d measured" % n_measured not in text:
        fail("report does not say '%d measured'" % n_measured)
    sha = db.execute("select config_sha256 from campaigns where id=?", (c,)).fetchone()[0]
    if sha not in text:
        fail("report lacks the config sha256")
    op = db.execute("select operator from campaigns where id=?", (c,)).fetchone()[0]
    if op not in text:
        fail("report lacks the operator %r (escaped text should read back as itself)" % op)
    print("report ok: %d svg, %d rows" % (p.svgs, len(p.rows)))


def same(hubv, outv, col):
    if hubv is None:
        return outv in ("", None)
    if isinstance(hubv, float):
        return float(outv) == hubv
    return str(hubv) == str(outv)


def hub_rows(db, table):
    """The rows an export of table must hold: events as the view event_log
    shows them, with the per-step events' detail built from their rows."""
    return db.execute("select * from %s order by id"
                      % ("event_log" if table == "events" else table)).fetchall()


def check_csv(db_path, path, table, flag):
    db = hub(db_path)
    rows = hub_rows(db, table)
    with open(path, newline="", encoding="utf-8") as f:
        got = list(csv.reader(f))
    head, body = got[0], got[1:]
    if head[-1] != "export_control":
        fail("CSV lacks the export_control column")
    if head[:-1] != list(rows[0].keys()):
        fail("CSV columns %s, hub %s" % (head, list(rows[0].keys())))
    if len(body) != len(rows):
        fail("CSV has %d rows, hub %d" % (len(body), len(rows)))
    for r, g in zip(rows, body):
        for i, col in enumerate(head[:-1]):
            if not same(r[col], g[i], col):
                fail("CSV %s row %s column %s: %r vs hub %r" % (table, r["id"], col, g[i], r[col]))
        if g[-1] != str(flag):
            fail("CSV export_control is %r, expected %s" % (g[-1], flag))
    print("csv ok: %s, %d rows" % (table, len(rows)))


JSON_COLS = {"params", "provenance", "objectives", "capabilities", "result", "detail"}


def check_jsonl(db_path, path, table, flag):
    db = hub(db_path)
    rows = hub_rows(db, table)
    with open(path, encoding="utf-8") as f:
        got = [json.loads(line) for line in f]
    if len(got) != len(rows):
        fail("JSON lines: %d rows, hub %d" % (len(got), len(rows)))
    for r, g in zip(rows, got):
        for col in r.keys():
            hv = r[col]
            if col in JSON_COLS and hv is not None:
                hv = json.loads(hv)
            if g.get(col) != hv:
                fail("JSON lines %s row %s column %s: %r vs hub %r" % (table, r["id"], col, g.get(col), hv))
        if g.get("export_control") is not bool(flag):
            fail("JSON lines export_control is %r" % g.get("export_control"))
    print("jsonl ok: %s, %d rows" % (table, len(rows)))


def check_jsonld(db_path, path, flag):
    db = hub(db_path)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    ctx = doc.get("@context", {})
    if ctx.get("@vocab") != "https://schema.org/" or doc.get("@type") != "Dataset":
        fail("JSON-LD is not a schema.org Dataset: @type %r, @vocab %r" % (doc.get("@type"), ctx.get("@vocab")))
    if "prov" not in ctx or "prov:wasGeneratedBy" not in doc:
        fail("JSON-LD lacks PROV-O terms")
    act = doc["prov:wasGeneratedBy"]
    sha = db.execute("select config_sha256 from campaigns").fetchone()[0]
    if act.get("labloop:configSha256") != sha:
        fail("JSON-LD activity lacks the config hash")
    devs = {r[0] for r in db.execute("select name from devices")}
    if {i["name"] for i in act.get("instrument", [])} != devs:
        fail("JSON-LD instruments %s, hub devices %s" % (act.get("instrument"), devs))
    params = json.loads(db.execute("select params from experiments limit 1").fetchone()[0]).keys()
    units = {"temperature": "degC", "time": "s", "fwhm": "nm"}
    vm = {v["name"]: v for v in doc.get("variableMeasured", [])}
    for p in params:
        if p not in vm:
            fail("JSON-LD does not name parameter %s" % p)
        if p in units and vm[p].get("unitText") != units[p]:
            fail("JSON-LD: parameter %s has unit %r, expected %r" % (p, vm[p].get("unitText"), units[p]))
    if doc.get("labloop:exportControlled") is not bool(flag):
        fail("JSON-LD exportControlled is %r" % doc.get("labloop:exportControlled"))
    for k in ("creator", "dateCreated", "license"):
        if k not in doc:
            fail("JSON-LD lacks %s" % k)
    print("jsonld ok: %d variables" % len(vm))


def check_show(db_path, path):
    db = hub(db_path)
    with open(path, encoding="utf-8") as f:
        s = json.load(f)
    c = s["counts"]
    for k, sql in (("experiments", "select count(*) from experiments"),
                   ("measured", "select count(*) from experiments where status='measured'"),
                   ("failed", "select count(*) from experiments where status='failed'"),
                   ("steps", "select count(*) from steps"),
                   ("events", "select count(*) from events"),
                   ("devices", "select count(*) from devices")):
        want = db.execute(sql).fetchone()[0]
        if c[k] != want:
            fail("show: %s is %s, hub %s" % (k, c[k], want))
    best = db.execute("select seq, objectives->>'plqy' from experiments where status='measured' "
                      "order by objectives->>'plqy' desc, seq limit 1").fetchone()
    if s["best"]["experiment"] != best[0] or s["best"]["objectives"]["plqy"] != best[1]:
        fail("show: best %s, hub %s" % (s["best"], tuple(best)))
    # Pareto front (plqy max, fwhm min) recomputed here.
    pts = [(r[0], r[1], r[2]) for r in db.execute(
        "select seq, objectives->>'plqy', objectives->>'fwhm' from experiments where status='measured'")]
    front = sorted(a[0] for a in pts if not any(
        b[1] >= a[1] and b[2] <= a[2] and (b[1] > a[1] or b[2] < a[2]) for b in pts))
    if sorted(p["experiment"] for p in s["pareto"]) != front:
        fail("show: Pareto front %s, recomputed %s" % ([p["experiment"] for p in s["pareto"]], front))
    busy = {r[0]: r[1] for r in db.execute(
        "select device, sum(finished_us - started_us) from steps where started_us is not null "
        "and finished_us is not null group by device")}
    for d in s["devices"]:
        if abs(d["busy_s"] - busy.get(d["name"], 0) / 1e6) > 1e-6:
            fail("show: %s busy %s s, hub %s us" % (d["name"], d["busy_s"], busy.get(d["name"])))
    nfail = db.execute("select count(*) from steps where status in ('failed','timed_out','lost')").fetchone()[0]
    if sum(f["count"] for f in s["failures"] if f["scope"] == "step") != nfail:
        fail("show: step failures do not add up to %d" % nfail)
    print("show ok: %d experiments, best #%d, front %s" % (c["experiments"], best[0], front))


def main():
    what, db, path = sys.argv[1:4]
    rest = sys.argv[4:]
    if what == "report":
        check_report(db, path, int(rest[0]), int(rest[1]))
    elif what == "csv":
        check_csv(db, path, rest[0], int(rest[1]))
    elif what == "jsonl":
        check_jsonl(db, path, rest[0], int(rest[1]))
    elif what == "jsonld":
        check_jsonld(db, path, int(rest[0]))
    elif what == "show":
        check_show(db, path)
    else:
        fail("unknown check " + what)


if __name__ == "__main__":
    main()
