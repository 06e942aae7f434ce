"""Read a labloop hub into pandas DataFrames, for researchers.

    import labloop_data
    hub = labloop_data.open_hub("build/demo/campaign.db")
    x = hub.experiments            # one row per experiment
    x[x.status == "measured"].plot.scatter("temperature [degC]", "plqy")
    hub.steps                      # one row per step attempt
    hub.events                     # the timeline
    hub.units                      # {"temperature [degC]": "degC", ...}

Columns are typed: experiment numbers are integers, times are UTC
timestamps, real parameters and objectives are floats, integer parameters
are pandas' nullable Int64, categorical parameters are Categoricals with the
config's choices in order, statuses and origins are categories. A column
with a unit carries it in its name, "temperature [degC]" (the same names as
`labloop export --format csv`), and in `df.attrs["units"]`.

The hub is opened read-only (SQLite URI mode=ro), so this works while a
campaign runs; each property reads the rows as they are at that moment.
Needs Debian's python3-pandas and python3-yaml (the campaign's stored
config gives units, goals and choices). Not for: writing to a hub.
"""
import json
import sqlite3

import pandas as pd
import yaml

__all__ = ["open_hub", "Hub"]


def _col(name, unit):
    return "%s [%s]" % (name, unit) if unit else name


def _times(series):
    """Microseconds since the epoch (NULL for not yet) -> UTC timestamps."""
    return pd.to_datetime(pd.array(series, dtype="Int64"), unit="us", utc=True)


class Hub:
    """One campaign of a hub file. Use open_hub()."""

    def __init__(self, path, campaign=None):
        self.path = path
        self._db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        self._db.row_factory = sqlite3.Row
        try:
            tables = {r[0] for r in self._db.execute("select name from sqlite_master where type = 'table'")}
        except sqlite3.DatabaseError as e:
            raise ValueError("%s is not a labloop hub (%s)" % (path, e)) from None
        if not {"campaigns", "experiments", "steps", "events"} <= tables:
            raise ValueError("%s is not a labloop hub (no campaigns/experiments/steps/events tables)" % path)
        if campaign is None:
            row = self._db.execute("select * from campaigns order by id desc limit 1").fetchone()
        else:
            row = self._db.execute("select * from campaigns where name = ?", (campaign,)).fetchone()
        if row is None:
            raise LookupError("campaign %r is not in %s" % (campaign, path) if campaign
                              else "%s has no campaign yet" % path)
        self.campaign = dict(row)
        self._config = self._parse_config(self.campaign.get("config_text"))

    # ---- the campaign's config: units, types, goals ----

    @staticmethod
    def _parse_config(text):
        try:
            c = yaml.safe_load(text or "") or {}
        except yaml.YAMLError:
            c = {}
        return c if isinstance(c, dict) else {}

    @property
    def parameters(self):
        """The search space: [{"name", "type", "unit", "values"...}] in config order."""
        return [d for d in self._config.get("space") or [] if isinstance(d, dict) and "name" in d]

    @property
    def objectives(self):
        """[{"name", "goal", "from", "unit"}] in config order."""
        return [o for o in self._config.get("objectives") or [] if isinstance(o, dict) and "name" in o]

    @property
    def units(self):
        """Column name -> unit, for every column that has one."""
        u = {}
        for d in self.parameters + self.objectives:
            if d.get("unit"):
                u[_col(d["name"], d["unit"])] = str(d["unit"])
        return u

    def _value_units(self):
        """Unit by bare name: parameters, objectives and the step values objectives come from."""
        u = {d["name"]: str(d["unit"]) for d in self.parameters if d.get("unit")}
        for o in self.objectives:
            if o.get("unit"):
                u[o["name"]] = str(o["unit"])
                src = str(o.get("from", ""))
                if "." in src:
                    u.setdefault(src.split(".", 1)[1], str(o["unit"]))
        return u

    # ---- tables ----

    @property
    def experiments(self):
        rows = self._db.execute("select * from experiments where campaign = ? order by seq",
                                (self.campaign["id"],)).fetchall()
        params = [json.loads(r["params"]) for r in rows]
        objs = [json.loads(r["objectives"]) if r["objectives"] else {} for r in rows]
        prov = [json.loads(r["provenance"]) if r["provenance"] else {} for r in rows]
        df = pd.DataFrame({
            "campaign": pd.Series([self.campaign["name"]] * len(rows), dtype="string"),
            "experiment": pd.array([r["seq"] for r in rows], dtype="Int64"),
            "status": pd.Categorical([r["status"] for r in rows]),
            "origin": pd.Categorical([r["origin"] for r in rows]),
            "proposed_at": _times([r["proposed_us"] for r in rows]),
            "finished_at": _times([r["finished_us"] for r in rows]),
        })
        units = {}
        space = self.parameters or [{"name": k} for k in (params[0] if params else {})]
        for d in space:
            name, col = d["name"], _col(d["name"], d.get("unit"))
            vals = [p.get(name) for p in params]
            kind = d.get("type")
            if kind == "categorical":
                df[col] = pd.Categorical(vals, categories=[str(v) for v in d.get("values", [])] or None)
            elif kind == "integer":
                df[col] = pd.array(vals, dtype="Int64")
            else:
                df[col] = pd.array(vals, dtype="Float64").astype("float64")
            if d.get("unit"):
                units[col] = str(d["unit"])
        obj_names = self.objectives or [{"name": k} for k in (next((o for o in objs if o), {}))]
        for o in obj_names:
            col = _col(o["name"], o.get("unit"))
            df[col] = pd.array([v.get(o["name"]) for v in objs], dtype="Float64").astype("float64")
            if o.get("unit"):
                units[col] = str(o["unit"])
        df["failure_cause"] = pd.Series([r["error"] for r in rows], dtype="string")
        df["planner"] = pd.Series([p.get("planner") for p in prov], dtype="string")
        df["planner_reason"] = pd.Series([p.get("reason") for p in prov], dtype="string")
        for k, col in (("acquisition", "acquisition_value"), ("predicted_mean", "predicted_mean"),
                       ("predicted_sd", "predicted_sd")):
            df[col] = pd.array([p.get(k) if isinstance(p.get(k), (int, float)) else None for p in prov],
                               dtype="Float64").astype("float64")
        for o in obj_names:  # each objective's prediction in its units, where stored
            for part, suffix in (("mean", ""), ("sd", " sd")):
                col = _col("predicted %s%s" % (o["name"], suffix), o.get("unit"))
                vals = [(p.get("predicted") or {}).get(o["name"], {}).get(part) for p in prov]
                df[col] = pd.array([v if isinstance(v, (int, float)) else None for v in vals],
                                   dtype="Float64").astype("float64")
                if o.get("unit"):
                    units[col] = str(o["unit"])
        df["provenance"] = prov
        df.attrs["units"] = units
        df.attrs["parameters"] = [_col(d["name"], d.get("unit")) for d in space]
        df.attrs["objectives"] = [_col(o["name"], o.get("unit")) for o in obj_names]
        df.attrs["goals"] = {_col(o["name"], o.get("unit")): o.get("goal", "maximize") for o in obj_names}
        return df

    @property
    def steps(self):
        rows = self._db.execute("select * from steps where campaign = ? order by id",
                                (self.campaign["id"],)).fetchall()
        df = pd.DataFrame({
            "campaign": pd.Series([self.campaign["name"]] * len(rows), dtype="string"),
            "experiment": pd.array([r["experiment"] for r in rows], dtype="Int64"),
            "step": pd.Categorical([r["step"] for r in rows]),
            "attempt": pd.array([r["attempt"] for r in rows], dtype="Int64"),
            "attempt_id": pd.Series([r["attempt_id"] for r in rows], dtype="string"),
            "device": pd.Categorical([r["device"] for r in rows]),
            "status": pd.Categorical([r["status"] for r in rows]),
            "queued_at": _times([r["queued_us"] for r in rows]),
            "started_at": _times([r["started_us"] for r in rows]),
            "finished_at": _times([r["finished_us"] for r in rows]),
        })
        df["duration [s]"] = (df["finished_at"] - df["started_at"]).dt.total_seconds()
        df["error"] = pd.Series([r["error"] for r in rows], dtype="string")
        units = {"duration [s]": "s"}
        vu = self._value_units()
        fixed = set(df.columns) | {"duration"}
        params = [json.loads(r["params"]) if r["params"] else {} for r in rows]
        results = [json.loads(r["result"]) if r["result"] else {} for r in rows]
        pkeys = list(dict.fromkeys(k for p in params for k in p))
        for prefix, keys, data, clash in (("param.", pkeys, params, fixed),
                                          ("value.", list(dict.fromkeys(k for v in results for k in v)), results,
                                           fixed | set(pkeys))):
            for k in keys:
                col = _col((prefix if k in clash else "") + k, vu.get(k))
                vals = [d.get(k) for d in data]
                if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in vals):
                    df[col] = pd.array(vals, dtype="Float64").astype("float64")
                else:
                    df[col] = pd.Series([None if v is None else str(v) for v in vals], dtype="string")
                if vu.get(k):
                    units[col] = vu[k]
        df.attrs["units"] = units
        return df

    @property
    def events(self):
        # Hubs of schema version 3 on write the per-step events without a
        # detail; their view event_log builds it from the experiment's or
        # the attempt's row. Older hubs hold every detail in events.
        has_view = self._db.execute(
            "select 1 from sqlite_master where type = 'view' and name = 'event_log'").fetchone()
        rows = self._db.execute(
            "select id, t_us, kind, subject, detail from %s where campaign = ? or campaign is null "
            "order by t_us, id" % ("event_log" if has_view else "events"), (self.campaign["id"],)).fetchall()
        return pd.DataFrame({
            "id": pd.array([r["id"] for r in rows], dtype="Int64"),
            "time": _times([r["t_us"] for r in rows]),
            "kind": pd.Categorical([r["kind"] for r in rows]),
            "subject": pd.Series([r["subject"] for r in rows], dtype="string"),
            "detail": [json.loads(r["detail"]) if r["detail"] else None for r in rows],
        })

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_hub(path, campaign=None):
    """Open the hub file at path (read-only) on campaign (default: the latest)."""
    return Hub(path, campaign)
