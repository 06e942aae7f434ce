#!/usr/bin/python3
"""The planner's peers on labloop's benchmark functions.

Runs one peer on one function for seeds 0..S-1 and prints the same JSON lines
as `labloop bench planner --json`. The function is computed by labloop itself
(`labloop bench planner --eval FUNC`, one point per line on a pipe), so both
sides minimise exactly the same thing.

Peers:
  sklearn  scikit-learn GP + expected improvement: Matern-5/2 with one
           length-scale per dimension, constant and white-noise terms,
           normalised inputs and outputs, 2 optimiser restarts; EI ranked
           over 2,000 uniform candidates, then a local polish (L-BFGS-B) from
           the best one. Starts with the same number of scrambled Sobol points
           as labloop's benchmark (max(10, 2(d+1))). Failed experiments are
           given the worst value seen. Single objective only.
  tpe      Optuna's TPE sampler (its multi-objective form for two objectives);
           failed experiments are told as failed trials.
  random   uniform points in the box.

Points outside a linear constraint are not experiments: a peer that proposes
one is told it failed (TPE: the worst value seen) and the budget is not
charged (at most 1,000 times).

usage: peers.py --labloop PATH --func F --budget N --seeds S --peer sklearn|tpe|random
                [--noise SD]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
import warnings

import numpy as np


class Func:
    """One labloop benchmark function, evaluated through a pipe."""

    def __init__(self, labloop, name):
        out = subprocess.run([labloop, "bench", "planner", "--describe", name],
                             check=True, capture_output=True, text=True).stdout
        self.desc = json.loads(out)
        self.name = name
        self.d, self.m = self.desc["d"], self.desc["m"]
        self.low = np.array(self.desc["low"], float)
        self.high = np.array(self.desc["high"], float)
        self.proc = subprocess.Popen([labloop, "bench", "planner", "--eval", name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def eval_many(self, xs):
        """Answers for the rows of xs: a list of m values, 'fail' or 'infeasible'."""
        self.proc.stdin.write("".join(" ".join(repr(float(v)) for v in x) + "\n" for x in xs))
        self.proc.stdin.flush()
        out = []
        for _ in range(len(xs)):
            line = self.proc.stdout.readline().strip()
            out.append(line if line in ("fail", "infeasible") else [float(v) for v in line.split()])
        return out

    def eval(self, x):
        return self.eval_many([x])[0]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def hypervolume2(ys, ref):
    """Hypervolume of 2-objective points (minimised) against ref."""
    pts = sorted((a, b) for a, b in ys if a < ref[0] and b < ref[1])
    hv, best_b = 0.0, ref[1]
    for a, b in pts:
        if b < best_b:
            hv += (ref[0] - a) * (best_b - b)
            best_b = b
    return hv


class Run:
    """Bookkeeping shared by the peers: budget, failures per half, bounds."""

    def __init__(self, f, budget, noise=0.0, seed=0):
        self.f, self.budget = f, budget
        self.noise = noise
        self.noise_rng = np.random.default_rng([seed, 0x6e6f697365])   # "noise"
        self.ys, self.best = [], math.inf
        self.told = []                 # what the peer was told (with --noise: noisy)
        self.done, self.refused = 0, 0
        self.fail_first = self.fail_second = 0
        self.n_model = self.n_bound = 0
        self.ask_ms = []

    def on_bound(self, x):
        tol = 1e-9 * (self.f.high - self.f.low)
        return bool(np.any(x <= self.f.low + tol) or np.any(x >= self.f.high - tol))

    def tell(self, x, model_chosen):
        """Runs x; returns its answer ('infeasible' is not charged), with
        --noise what is measured: the value plus Gaussian noise (the regret
        counts the true values)."""
        ans = self.f.eval(x)
        if ans == "infeasible":
            self.refused += 1
            if self.refused > 1000:
                raise RuntimeError("more than 1000 infeasible proposals")
            return ans
        if model_chosen:
            self.n_model += 1
            self.n_bound += self.on_bound(np.asarray(x))
        if ans == "fail":
            if self.done < self.budget // 2:
                self.fail_first += 1
            else:
                self.fail_second += 1
        else:
            self.ys.append(ans)
            if self.f.m == 1:
                self.best = min(self.best, ans[0])
            if self.noise > 0:
                ans = [v + self.noise * self.noise_rng.standard_normal() for v in ans]
            self.told.append(ans)
        self.done += 1
        return ans

    def result(self, peer, seed):
        if self.f.m == 1:
            best = self.best
            regret = best - self.f.desc["optimum"]
        else:
            best = hypervolume2(self.ys, self.f.desc["ref"])
            regret = self.f.desc["optimum"] - best
        ms = float(np.median(self.ask_ms)) if self.ask_ms else 0.0
        return {"func": self.f.name, "planner": peer, "seed": seed, "budget": self.budget,
                "best": best, "regret": regret, "ask_ms_median": round(ms, 3), "batch": 1,
                "n_model": self.n_model, "n_bound": self.n_bound,
                "fail_first": self.fail_first, "fail_second": self.fail_second}


def n_initial(d):
    return max(10, 2 * (d + 1))


def run_random(f, budget, seed, noise=0.0):
    r, rng = Run(f, budget, noise, seed), np.random.default_rng(seed)
    while r.done < budget:
        t0 = time.perf_counter()
        x = f.low + rng.random(f.d) * (f.high - f.low)
        r.ask_ms.append(1e3 * (time.perf_counter() - t0))
        r.tell(x, False)
    return r


def run_sklearn(f, budget, seed, noise=0.0):
    from scipy.optimize import minimize
    from scipy.stats import norm, qmc
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    if f.m != 1:
        raise SystemExit("peers.py: the sklearn peer handles one objective")
    r, rng = Run(f, budget, noise, seed), np.random.default_rng(seed)
    span = f.high - f.low
    X, Y = [], []                     # unit-cube points, values (None for failures)
    sob = qmc.Sobol(f.d, scramble=True, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "balance properties ... power of 2"
        init = sob.random(n_initial(f.d))
    i_init = 0
    while r.done < budget:
        t0 = time.perf_counter()
        model = False
        if i_init < len(init):
            u = init[i_init]
            i_init += 1
        else:
            model = True
            ok = [y for y in Y if y is not None]
            worst = max(ok) if ok else 0.0
            yv = np.array([worst if y is None else y for y in Y])
            kern = (ConstantKernel(1.0, (1e-3, 1e3)) *
                    Matern(length_scale=np.full(f.d, 0.5), length_scale_bounds=(1e-3, 1e2), nu=2.5) +
                    WhiteKernel(1e-6, (1e-9, 1e-1)))
            gp = GaussianProcessRegressor(kern, normalize_y=True, n_restarts_optimizer=2,
                                          random_state=int(rng.integers(1 << 31)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gp.fit(np.array(X), yv)
            best = yv.min()

            def neg_ei(us):
                us = np.atleast_2d(us)
                mu, sd = gp.predict(us, return_std=True)
                sd = np.maximum(sd, 1e-12)
                z = (best - mu) / sd
                return -(sd * (z * norm.cdf(z) + norm.pdf(z)))

            cand = rng.random((2000, f.d))
            if f.desc["constrained"]:
                ans = f.eval_many(f.low + cand * span)
                keep = [i for i, a in enumerate(ans) if a != "infeasible"]
                cand = cand[keep] if keep else cand
            u0 = cand[np.argmin(neg_ei(cand))]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = minimize(lambda v: neg_ei(v)[0], u0, method="L-BFGS-B",
                               bounds=[(0.0, 1.0)] * f.d, options={"maxiter": 50})
            u = res.x if res.fun <= neg_ei(u0)[0] else u0
            if f.desc["constrained"] and f.eval(f.low + u * span) == "infeasible":
                u = u0
        r.ask_ms.append(1e3 * (time.perf_counter() - t0))
        x = f.low + np.clip(u, 0.0, 1.0) * span
        ans = r.tell(x, model)
        if ans == "infeasible":
            continue
        X.append(np.clip(u, 0.0, 1.0))
        Y.append(None if ans == "fail" else ans[0])
    return r


def run_tpe(f, budget, seed, noise=0.0):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    r = Run(f, budget, noise, seed)
    sampler = optuna.samplers.TPESampler(seed=seed)
    directions = ["minimize"] * f.m
    study = optuna.create_study(directions=directions, sampler=sampler)
    startup = 10                      # optuna's default n_startup_trials
    while r.done < budget:
        t0 = time.perf_counter()
        trial = study.ask()
        x = np.array([trial.suggest_float("x%d" % i, f.low[i], f.high[i]) for i in range(f.d)])
        r.ask_ms.append(1e3 * (time.perf_counter() - t0))
        ans = r.tell(x, len(study.trials) > startup)
        if ans == "infeasible" and f.m == 1 and r.ys:
            # TPE ignores failed trials and would keep sampling outside the
            # constraint: it is told the worst value seen instead
            study.tell(trial, max(y[0] for y in r.told))
        elif ans in ("fail", "infeasible"):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, ans if f.m > 1 else ans[0])
    return r


PEERS = {"sklearn": run_sklearn, "tpe": run_tpe, "random": run_random}
NAMES = {"sklearn": "sklearn_gp_ei", "tpe": "optuna_tpe", "random": "random"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labloop", default=os.environ.get("LABLOOP", "build/labloop"))
    ap.add_argument("--func", required=True)
    ap.add_argument("--budget", type=int, required=True)
    ap.add_argument("--seeds", type=int, required=True)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--peer", choices=sorted(PEERS), required=True)
    ap.add_argument("--noise", type=float, default=0.0,
                    help="sd of Gaussian noise added to what the peer is told")
    a = ap.parse_args()
    if not (math.isfinite(a.noise) and a.noise >= 0):
        ap.error("--noise needs a standard deviation >= 0 (got %r)" % a.noise)
    a.noise += 0.0                    # -0 is 0
    f = Func(a.labloop, a.func)
    try:
        for s in range(a.seed0, a.seed0 + a.seeds):
            r = PEERS[a.peer](f, a.budget, s, a.noise)
            out = r.result(NAMES[a.peer], s)
            out["noise"] = a.noise
            print(json.dumps(out), flush=True)
    finally:
        f.close()


if __name__ == "__main__":
    sys.exit(main())
