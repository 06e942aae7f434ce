#!/usr/bin/env python3
"""A fake UV-vis spectrometer as a labloop worker: an example of the Python
client (labloop_worker.py). Not a model of real optics: the absorbance
follows a smooth made-up function of the step's numeric parameters, and a
spectrum.csv artifact comes with every measurement.

    python3 devices/python/example_uvvis.py --name uvvis-1 \
        --endpoint tcp://127.0.0.1:5560 --capability uvvis --duration 0.05
"""
import argparse
import logging
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labloop_worker import Worker  # noqa: E402


def spectrum(params, rng):
    """Peak wavelength and height from the numeric parameters (any names)."""
    nums = [float(v) for v in params.values() if isinstance(v, (int, float))
            and not isinstance(v, bool)]
    s = sum(math.sin(0.7 * (i + 1) * x) for i, x in enumerate(nums)) if nums else 0.0
    peak_nm = 480.0 + 40.0 * math.tanh(s)
    height = 0.3 + 0.6 / (1.0 + math.exp(-s)) + rng.gauss(0.0, 0.01)
    fwhm = 25.0 + 5.0 * math.cos(s)
    return peak_nm, max(height, 0.0), fwhm


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="uvvis-1")
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:5560")
    ap.add_argument("--capability", default="uvvis")
    ap.add_argument("--duration", type=float, default=1.0, help="seconds per measurement")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--outbox", help="directory that keeps results until acknowledged")
    ap.add_argument("--key", help="this device's secret key file (CURVE; labloop keygen NAME)")
    ap.add_argument("--orchestrator-key", help="the orchestrator's public key file (CURVE)")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                        format="%(asctime)s uvvis[" + a.name + "] %(levelname)s %(message)s")
    rng = random.Random(a.seed)
    w = Worker(a.name, a.endpoint, capacity=1, outbox_dir=a.outbox, key=a.key,
               orchestrator_key=a.orchestrator_key)

    @w.step(a.capability)
    def measure(step):
        step.log("measuring sample %s" % step.sample)
        if step.cancelled.wait(a.duration):       # cancel, deadline or e-stop
            return {}
        peak, height, fwhm = spectrum(step.params, rng)
        rows = ["wavelength_nm,absorbance"]
        for nm in range(350, 701, 5):
            rows.append("%d,%.5f" % (nm, height * math.exp(-((nm - peak) / (fwhm / 2.355)) ** 2 / 2)))
        step.artifact("spectrum.csv", "\n".join(rows) + "\n", "text/csv")
        return {"absorbance_max": height, "peak_nm": peak, "fwhm_nm": fwhm}

    return w.run()


if __name__ == "__main__":
    raise SystemExit(main())
