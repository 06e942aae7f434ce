#!/usr/bin/env python3
"""Test of python/labloop_data.py on a real hub (made by test_python_reader.sh):
every DataFrame against the rows read with plain sqlite3, its column types
and units, its agreement with `labloop export --format csv`, and its errors.

  check_labloop_data.py HUB.db EXPORTED_EXPERIMENTS.csv
"""
import json
import math
import os
import sqlite3
import sys

import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import labloop_data  # noqa: E402


def check(cond, msg):
    if not cond:
        print("check_labloop_data: " + msg, file=sys.stderr)
        sys.exit(1)


def main(path, csv_path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    db.row_factory = sqlite3.Row
    hub = labloop_data.open_hub(path)
    x = hub.experiments
    rows = db.execute("select * from experiments order by seq").fetchall()
    check(len(x) == len(rows), "%d experiments, hub %d" % (len(x), len(rows)))
    want_types = {"experiment": "Int64", "status": "category", "origin": "category",
                  "proposed_at": "datetime64[ns, UTC]", "finished_at": "datetime64[ns, UTC]",
                  "cs_pb_ratio": "float64", "temperature [degC]": "float64", "time [s]": "float64",
                  "ligand": "category", "washes": "Int64", "plqy": "float64", "fwhm [nm]": "float64"}
    for c, t in want_types.items():
        check(c in x.columns, "no column %r (has %s)" % (c, list(x.columns)))
        check(str(x[c].dtype) == t, "column %r is %s, not %s" % (c, x[c].dtype, t))
    check(list(x["ligand"].cat.categories) == ["oleylamine", "octylamine", "dodecylamine"],
          "ligand categories not in config order: %s" % list(x["ligand"].cat.categories))
    check(x.attrs["units"] == {"temperature [degC]": "degC", "time [s]": "s", "fwhm [nm]": "nm",
                               "predicted fwhm [nm]": "nm", "predicted fwhm sd [nm]": "nm"},
          "units %s" % x.attrs["units"])
    check(x.attrs["goals"] == {"plqy": "maximize", "fwhm [nm]": "minimize"}, "goals %s" % x.attrs["goals"])
    names = {"temperature": "temperature [degC]", "time": "time [s]", "fwhm": "fwhm [nm]"}
    for (_, r), h in zip(x.iterrows(), rows):
        check(r["experiment"] == h["seq"] and r["status"] == h["status"] and r["origin"] == h["origin"],
              "experiment %d: status/origin differ" % h["seq"])
        check(int(r["proposed_at"].value // 1000) == h["proposed_us"], "experiment %d proposed_at" % h["seq"])
        for k, v in json.loads(h["params"]).items():
            got = r[names.get(k, k)]
            check(got == v, "experiment %d %s: %r, hub %r" % (h["seq"], k, got, v))
        objs = json.loads(h["objectives"]) if h["objectives"] else {}
        for k in ("plqy", "fwhm"):
            got = r[names.get(k, k)]
            if k in objs:
                check(got == objs[k], "experiment %d %s: %r, hub %r" % (h["seq"], k, got, objs[k]))
            else:
                check(math.isnan(got), "experiment %d %s should be missing" % (h["seq"], k))
        check((pd.isna(r["failure_cause"]) and h["error"] is None) or r["failure_cause"] == h["error"],
              "experiment %d failure cause" % h["seq"])
    # The same numbers as the tidy CSV export.
    c = pd.read_csv(csv_path, float_precision="round_trip", parse_dates=["proposed_at", "finished_at"])
    for col in ["cs_pb_ratio", "temperature [degC]", "time [s]", "plqy", "fwhm [nm]"]:
        a, b = x[col].to_numpy(), c[col].to_numpy()
        check(all((p == q) or (math.isnan(p) and math.isnan(q)) for p, q in zip(a, b)),
              "column %r differs from the CSV export" % col)
    check(list(x["ligand"].astype(str)) == list(c["ligand"]), "ligand differs from the CSV export")

    s = hub.steps
    srows = db.execute("select * from steps order by id").fetchall()
    check(len(s) == len(srows), "%d steps, hub %d" % (len(s), len(srows)))
    check(list(s["attempt_id"]) == [r["attempt_id"] for r in srows], "attempt ids differ")
    for (_, r), h in zip(s.iterrows(), srows):
        if h["started_us"] and h["finished_us"]:
            check(abs(r["duration [s]"] - (h["finished_us"] - h["started_us"]) / 1e6) < 1e-9, "duration")
        for k, v in (json.loads(h["result"]) if h["result"] else {}).items():
            col = "fwhm_nm [nm]" if k == "fwhm_nm" else k
            check(r[col] == v, "attempt %s value %s: %r, hub %r" % (h["attempt_id"], k, r[col], v))
    check(s.attrs["units"].get("temperature [degC]") == "degC", "step units %s" % s.attrs["units"])

    e = hub.events
    n = db.execute("select count(*) from events").fetchone()[0]
    check(len(e) == n, "%d events, hub %d" % (len(e), n))
    check(str(e["time"].dtype) == "datetime64[ns, UTC]", "event times are %s" % e["time"].dtype)
    check(e["time"].is_monotonic_increasing, "events not in time order")
    done = [d for k, d in zip(e["kind"], e["detail"]) if k == "step.done"]
    check(len(done) > 0 and all(isinstance(d, dict) and isinstance(d.get("values"), dict) for d in done),
          "step.done events without the values their attempt returned")

    # Errors say what is wrong.
    try:
        labloop_data.open_hub(path, campaign="no-such")
        check(False, "an unknown campaign was accepted")
    except LookupError as err:
        check("no-such" in str(err), "unclear error: %s" % err)
    junk = path + ".junk"
    with open(junk, "w") as f:
        f.write("not a hub at all, just text " * 10)
    try:
        labloop_data.open_hub(junk)
        check(False, "a file that is not a hub was accepted")
    except ValueError as err:
        check("not a labloop hub" in str(err), "unclear error: %s" % err)
    print("check_labloop_data: %d experiments, %d attempts, %d events read with types and units; "
          "equal to the hub and to the CSV export" % (len(x), len(s), len(e)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
