#!/usr/bin/env python3
"""Example: a campaign's hub in pandas. Prints the best experiments, what
each ligand gave, and where the time went per device.

    python3 python/example_read_hub.py build/demo/campaign.db
"""
import sys

import labloop_data


def main(path):
    with labloop_data.open_hub(path) as hub:
        x = hub.experiments
        first = x.attrs["objectives"][0]
        ascending = x.attrs["goals"][first] == "minimize"
        measured = x[x.status == "measured"]
        print("campaign %s (%s): %d experiments, %d measured" %
              (hub.campaign["name"], hub.campaign["status"], len(x), len(measured)))
        print("\nbest by %s:" % first)
        print(measured.sort_values(first, ascending=ascending)
              [["experiment", "origin"] + x.attrs["parameters"] + [first]].head(5).to_string(index=False))
        cats = [c for c in x.attrs["parameters"] if str(x[c].dtype) == "category"]
        for c in cats:
            print("\n%s by %s:" % (first, c))
            print(measured.groupby(c, observed=False)[first].agg(["count", "mean", "max"]).to_string())
        s = hub.steps
        print("\nstep attempts per device (duration in s):")
        print(s.groupby("device", observed=True)["duration [s]"].agg(["count", "sum", "mean"]).to_string())
        print("\nunits:", x.attrs["units"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: example_read_hub.py HUB.db")
    main(sys.argv[1])
