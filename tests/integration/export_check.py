#!/usr/bin/env python3
"""Checks of labloop's tidy exports against the hub itself (Python's sqlite3),
read the way researchers read them: CSV with pandas, the RO-Crate's metadata
with rdflib. Needs Debian's python3-pandas and python3-rdflib.

  export_check.py tidy HUB experiments.csv steps.csv HEADER...
      HEADER: columns the experiments CSV must have, e.g. "temperature [degC]"
  export_check.py crate HUB DIR

Exits non-zero with a message on the first mismatch. Not for: running labloop.
"""
import hashlib
import json
import math
import os
import sqlite3
import sys

import pandas as pd


def fail(msg):
    print("export_check: " + msg, file=sys.stderr)
    sys.exit(1)


def hub(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    db.row_factory = sqlite3.Row
    return db


def utc_us(ts):
    """pandas Timestamp (UTC) -> microseconds since the epoch."""
    return int(ts.value // 1000)


def same_time(ts, us, what):
    if us is None:
        if not pd.isna(ts):
            fail("%s: %s in the CSV, none in the hub" % (what, ts))
        return
    if pd.isna(ts) or ts.tzinfo is None or abs(utc_us(ts) - us) >= 1000:
        fail("%s: %s in the CSV, %d us in the hub" % (what, ts, us))


def same_value(got, want, what):
    if isinstance(want, str):
        if got != want:
            fail("%s: %r in the CSV, %r in the hub" % (what, got, want))
    elif want is None:
        if not (got is None or (isinstance(got, float) and math.isnan(got))):
            fail("%s: %r in the CSV, empty in the hub" % (what, got))
    elif float(got) != float(want):
        fail("%s: %r in the CSV, %r in the hub (values must read back exactly)" % (what, got, want))


def check_tidy(db_path, exp_csv, steps_csv, headers):
    db = hub(db_path)
    camp = db.execute("select * from campaigns order by id desc limit 1").fetchone()
    exps = db.execute("select * from experiments where campaign = ? order by seq", (camp["id"],)).fetchall()
    x = pd.read_csv(exp_csv, parse_dates=["proposed_at", "finished_at"], float_precision="round_trip")
    for h in ["campaign", "campaign_status", "experiment", "status", "origin", "proposed_at",
              "finished_at", "failure_cause", "planner_reason"] + headers:
        if h not in x.columns:
            fail("experiments CSV lacks column %r; it has %s" % (h, list(x.columns)))
    if len(x) != len(exps):
        fail("experiments CSV has %d rows, the hub %d experiments" % (len(x), len(exps)))
    if str(x["experiment"].dtype) != "int64":
        fail("experiment numbers are not integers: %s" % x["experiment"].dtype)
    col = {}
    for c in x.columns:
        col[c.split(" [")[0]] = c
    for row, e in zip(x.to_dict("records"), exps):
        what = "experiment %d" % e["seq"]
        same_value(row["experiment"], e["seq"], what + " number")
        same_value(row["campaign"], camp["name"], what + " campaign")
        same_value(row["campaign_status"], camp["status"], what + " campaign status")
        same_value(row["status"], e["status"], what + " status")
        same_value(row["origin"], e["origin"], what + " origin")
        same_time(row["proposed_at"], e["proposed_us"], what + " proposed_at")
        same_time(row["finished_at"], e["finished_us"], what + " finished_at")
        for k, v in json.loads(e["params"]).items():
            same_value(row[col[k]], v, "%s parameter %s" % (what, k))
        for k, v in json.loads(e["objectives"] or "{}").items():
            same_value(row[col[k]], v, "%s objective %s" % (what, k))
        err = row["failure_cause"]
        same_value(None if isinstance(err, float) else err, e["error"], what + " failure cause")
    steps = db.execute("select * from steps where campaign = ? order by id", (camp["id"],)).fetchall()
    s = pd.read_csv(steps_csv, parse_dates=["queued_at", "started_at", "finished_at"], float_precision="round_trip")
    if len(s) != len(steps):
        fail("steps CSV has %d rows, the hub %d attempts" % (len(s), len(steps)))
    for h in ["attempt_id", "device", "status", "duration [s]", "error"]:
        if h not in s.columns:
            fail("steps CSV lacks column %r" % h)
    scol = {c.split(" [")[0]: c for c in s.columns}
    for row, st in zip(s.to_dict("records"), steps):
        what = "attempt %s" % st["attempt_id"]
        same_value(row["attempt_id"], st["attempt_id"], what)
        same_value(row["device"], st["device"], what + " device")
        same_time(row["queued_at"], st["queued_us"], what + " queued_at")
        same_time(row["started_at"], st["started_us"], what + " started_at")
        if st["started_us"] and st["finished_us"]:
            d = (st["finished_us"] - st["started_us"]) / 1e6
            if abs(row["duration [s]"] - d) > 1e-9:
                fail("%s: duration %s s, hub %s s" % (what, row["duration [s]"], d))
        for k, v in json.loads(st["params"] or "{}").items():
            same_value(row[scol[k]], v, "%s parameter %s" % (what, k))
        for k, v in json.loads(st["result"] or "{}").items():
            if isinstance(v, (int, float)):
                same_value(row[scol[k]], v, "%s value %s" % (what, k))
    print("export_check: %d experiments and %d attempts equal the hub; columns %s" %
          (len(x), len(s), ", ".join(headers)))


# The RO-Crate 1.1 context maps its terms to schema.org (and conformsTo to
# Dublin Core). The test machine has no network, so rdflib gets the same
# mapping inline instead of fetching https://w3id.org/ro/crate/1.1/context.
LOCAL_CONTEXT = {"@vocab": "http://schema.org/",
                 "conformsTo": {"@id": "http://purl.org/dc/terms/conformsTo", "@type": "@id"},
                 "labloop": "urn:labloop:terms#"}


def check_crate(db_path, d):
    import rdflib
    from rdflib.namespace import RDF
    meta_path = os.path.join(d, "ro-crate-metadata.json")
    doc = json.load(open(meta_path))
    ctx = doc["@context"]
    if (ctx if isinstance(ctx, str) else ctx[0]) != "https://w3id.org/ro/crate/1.1/context":
        fail("not an RO-Crate 1.1 context: %r" % ctx)
    doc["@context"] = LOCAL_CONTEXT
    base = "file://" + os.path.abspath(d) + "/"
    g = rdflib.Graph()
    g.parse(data=json.dumps(doc), format="json-ld", base=base)
    S = rdflib.Namespace("http://schema.org/")
    root = rdflib.URIRef(base)
    meta = rdflib.URIRef(base + "ro-crate-metadata.json")
    if (meta, rdflib.URIRef("http://purl.org/dc/terms/conformsTo"),
            rdflib.URIRef("https://w3id.org/ro/crate/1.1")) not in g:
        fail("the metadata descriptor does not conform to RO-Crate 1.1")
    if (meta, S.about, root) not in g or (root, RDF.type, S.Dataset) not in g:
        fail("the root data entity is missing")
    parts = {str(o)[len(base):] for o in g.objects(root, S.hasPart)}
    files = set()
    for top, _, names in os.walk(d):
        for n in names:
            rel = os.path.relpath(os.path.join(top, n), d)
            if rel != "ro-crate-metadata.json":
                files.add(rel)
    if parts != files:
        fail("hasPart %s, files in the crate %s" % (sorted(parts), sorted(files)))
    for rel in files:
        node = rdflib.URIRef(base + rel)
        if (node, RDF.type, S.File) not in g:
            fail("%s is not described as a File" % rel)
        data = open(os.path.join(d, rel), "rb").read()
        if str(g.value(node, S.contentSize)) != str(len(data)):
            fail("%s: contentSize %s, file %d bytes" % (rel, g.value(node, S.contentSize), len(data)))
        if str(g.value(node, S.sha256)) != hashlib.sha256(data).hexdigest():
            fail("%s: sha256 differs" % rel)
        if not g.value(node, S.encodingFormat) or not g.value(node, S.name):
            fail("%s: no encodingFormat or name" % rel)
    db = hub(db_path)
    camp = db.execute("select * from campaigns order by id desc limit 1").fetchone()
    person = g.value(root, S.creator)
    if (person, RDF.type, S.Person) not in g or str(g.value(person, S.name)) != (camp["operator"] or "unknown"):
        fail("the creator is not the operator as a Person")
    runs = list(g.subjects(RDF.type, S.CreateAction))
    if len(runs) != 1:
        fail("expected one CreateAction, got %d" % len(runs))
    inst = {str(g.value(i, S.name)) for i in g.objects(runs[0], S.instrument)}
    devs = {r[0] for r in db.execute("select name from devices where campaign = ?", (camp["id"],))}
    if inst != devs:
        fail("instruments %s, hub devices %s" % (sorted(inst), sorted(devs)))
    for i in g.objects(runs[0], S.instrument):
        if not g.value(i, S.description):
            fail("instrument %s has no description" % g.value(i, S.name))
    variables = list(g.objects(root, S.variableMeasured))
    names = set()
    for v in variables:
        if not g.value(v, S.unitText):
            fail("variable %s has no unitText" % g.value(v, S.name))
        names.add(str(g.value(v, S.name)))
    e = db.execute("select params, objectives from experiments where campaign = ? and status = 'measured' "
                   "limit 1", (camp["id"],)).fetchone()
    want = set(json.loads(e["params"])) | set(json.loads(e["objectives"]))
    if names != want:
        fail("variableMeasured %s, the campaign's parameters and objectives %s" % (sorted(names), sorted(want)))
    cfg = open(os.path.join(d, "campaign.yaml")).read()
    if hashlib.sha256(cfg.encode()).hexdigest() != camp["config_sha256"]:
        fail("campaign.yaml is not the stored config")
    print("export_check: RO-Crate parsed by rdflib (%d triples): %d files, %d instruments, %d variables "
          "with units, creator %s" % (len(g), len(files), len(inst), len(names), person))


def main():
    what = sys.argv[1]
    if what == "tidy":
        check_tidy(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    elif what == "crate":
        check_crate(sys.argv[2], sys.argv[3])
    else:
        fail("unknown check %r" % what)


if __name__ == "__main__":
    main()
