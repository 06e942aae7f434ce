#!/usr/bin/env python3
"""labloop torture suite: a real campaign under injected faults, then the
exactly-once invariants checked against the hub and against the simulated
lab's own journal of what it physically did. See tests/torture/README.md.

Each seed runs `labloop sim` (journal and outboxes on) and `labloop run` on
loopback with a real SQLite hub, the workers talking to the orchestrator
through tests/torture/proxy.py. The seed fixes the whole fault schedule:
when the orchestrator is SIGKILLed, which restarts run under strace with
fsync slowed and by how much, when the hub's disk fills up, which worker is
killed or paused and when, the proxy's per-message choices, and the attacks
(impersonation, spoofed control, a rogue orchestrator) against a campaign
that runs with CurveZMQ on both endpoints.
"""
import argparse
import collections
import importlib
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

import zmq

import attacks

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Every fault kind the suite knows. 'needs' names what a kind waits for;
# such kinds are hooks: listed, never run, until that feature exists (then
# they must be refused and logged, and the run checks that).
FAULT_KINDS = collections.OrderedDict([
    ("orch_kill", "orchestrator SIGKILLed at a random moment, then restarted on the same hub"),
    ("slow_fsync", "orchestrator run under strace with fsync/fdatasync delayed"),
    ("disk_full", "the hub's filesystem (a small tmpfs) filled up, then freed"),
    ("worker_kill", "a device worker SIGKILLed (the sim launcher restarts it)"),
    ("worker_stop", "a device worker SIGSTOPped, then SIGCONTed"),
    ("delay", "proxy: a message held back"),
    ("dup", "proxy: a message sent twice"),
    ("reorder", "proxy: a message overtaken by the next one"),
    ("drop", "proxy: a device cut off both ways past its liveness window, then reconnected"),
    ("late_hello", "proxy: a Hello held past the worker's retry, or replayed after a StepRequest"),
    ("impersonate", "a peer with another device's valid key, or an unknown key, says it is a device and sends a fabricated result (refused)"),
    ("spoof_control", "a control client without a key, with an unknown key or with a viewer key sends abort/estop/pause (refused)"),
    ("rogue_orch", "a rogue orchestrator with another key; a worker pinned to the lab's key must not register with it"),
])
# Kinds that wait for a feature this build lacks: listed, never run.
NEEDS = {}

# The attacks run against a campaign with CurveZMQ on both endpoints (every
# seed): each is made while the orchestrator is up and not being killed, and
# the refusal it must cause is read back from the same orchestrator's
# status counters; attacks.py says what each one sends.
ATTACKS = [("impersonate", "valid_key"), ("impersonate", "unknown_key"),
           ("spoof_control", "no_key"), ("spoof_control", "unknown_key"), ("spoof_control", "viewer_key")]
# the counter each attack must raise
ATTACK_COUNTER = {"valid_key": "refused_messages", "unknown_key": "refused_connections",
                  "no_key": "refused_connections", "viewer_key": "refused_commands"}
KEY_NAMES = ["lab", "ot2", "hotplate", "pl-1", "op", "viewer", "rogue-lab"]

FINAL_STEP = ("done", "failed", "timed_out", "lost", "cancelled")


def short(path):
    """path relative to here when it is below here, else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def log(msg):
    print(msg, flush=True)


def free_ports(n):
    """n distinct free loopback ports, taken below the ephemeral range (as
    tests/integration/lib.sh does), the first two consecutive."""
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    r = random.SystemRandom()
    while True:
        p = r.randrange(10000, max(lo - n - 2, 10002))
        ports = [p, p + 1] + [p + 2 + i for i in range(n - 2)]
        socks = []
        try:
            for q in ports:
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", q))
            return ports
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class Schedule:
    """The fault schedule of one seed, drawn up front from the seed alone."""

    def __init__(self, seed, kills, kinds, disk_ok):
        r = random.Random(seed)
        self.seed = seed
        # one entry per orchestrator start: how long it lives before the
        # SIGKILL, the fsync delay it runs with (0: no strace), whether its
        # disk fills up and when
        self.lives = []
        for i in range(kills + 16):     # spare lives for starts that end on their own
            life = r.uniform(0.1, 1.8) if r.random() < 0.7 else r.uniform(1.8, 4.0)
            fsync_ms = r.choice([50, 150, 300]) if "slow_fsync" in kinds and r.random() < 0.5 else 0
            disk = disk_ok and "disk_full" in kinds and i > 0 and r.random() < 0.3
            # a worker fault paired with the kill: the device is paused across
            # the restart, or dies with the orchestrator (a power cut)
            pair = None
            pk = r.random()
            if "worker_stop" in kinds and pk < 0.35:
                pair = ("worker_stop", r.choice(DEVICES), r.uniform(0.3, 2.5))
            elif "worker_kill" in kinds and pk < 0.5:
                pair = ("worker_kill", r.choice(DEVICES), 0.0)
            self.lives.append({"life": life, "fsync_ms": fsync_ms, "disk": disk, "pair": pair,
                               "disk_at": r.uniform(0.05, 0.8) * life, "disk_hold": r.uniform(0.3, 1.5)})
        if disk_ok and "disk_full" in kinds and not any(x["disk"] for x in self.lives[1:kills]) and kills > 2:
            self.lives[1 + r.randrange(kills - 1)]["disk"] = True
        if "slow_fsync" in kinds and not any(x["fsync_ms"] for x in self.lives[:kills]) and kills > 1:
            self.lives[r.randrange(kills)]["fsync_ms"] = 150
        # worker faults: (seconds after the start, kind, device, pause length)
        self.worker = []
        t = 0.0
        wk = [k for k in ("worker_kill", "worker_stop") if k in kinds]
        while wk and t < 120:
            t += r.expovariate(1 / 2.5)
            self.worker.append((t, r.choice(wk), r.choice(DEVICES), r.uniform(0.2, 2.0)))
        self.proxy_seed = r.randrange(1 << 30)
        # attacks: (seconds after the start, kind, variant, victim, holder of
        # the valid key, control command); every variant at least once
        self.attacks = []
        av = [x for x in ATTACKS if x[0] in kinds]
        order = av + [r.choice(av) for _ in av]
        r.shuffle(order)
        t = 0.0
        for kind, variant in order:
            t += r.uniform(1.0, 5.0)
            victim = r.choice(DEVICES)
            holder = r.choice([d for d in DEVICES if d != victim])
            self.attacks.append((t, kind, variant, victim, holder, r.choice(["abort", "estop", "pause"])))
        self.rogue_at = r.uniform(0.5, 10.0) if "rogue_orch" in kinds else None
        # a model-based planner proposes off the loop, so an experiment and
        # its first StepRequest can go out in one turn; a design proposes a
        # batch ahead. Most seeds take the former.
        self.planner = ("{kind: gp, acquisition: ei, batch: 3, initial: {kind: sobol, count: 4}}"
                        if r.random() < 0.75 else "{kind: random, batch: 3}")


DEVICES = ["ot2", "hotplate", "pl-1"]


def write_configs(d, hubdir, ports, proxy_port, a, planner, kdir):
    """The simulated lab, and the campaign (a.campaigns 1: labloop run), or
    the two campaigns tt and tu and the lab service they are submitted to
    (a.campaigns 2: labloop lab). Returns (lab, [campaign files], service
    config or None)."""
    lab = os.path.join(d, "lab.yaml")
    with open(lab, "w") as f:
        f.write("""lab: {name: torture-lab, endpoint: "tcp://127.0.0.1:%d", speed: %g, samples: "%s/samples",
      seed: 3, journal: "%s/journal.tsv", keys: "%s"}
model: {kind: nanocrystal_pl, noise: 0.02}
devices:
  - {name: ot2, driver: sim.dispenser, capabilities: [liquid_handler], duration: 60s}
  - {name: hotplate, driver: sim.heater, capabilities: [hotplate], capacity: 4, duration: "${time}"}
  - {name: pl-1, driver: sim.spectrometer, capabilities: [pl_spectrometer], duration: 60s, failure_rate: 0.05}
""" % (proxy_port, a.speed, d, d, kdir))
    camp = os.path.join(hubdir, "campaign.yaml")
    text = ("""campaign: {name: tt, seed: %d, budget: {experiments: %d}}
space:
  - {name: cs_pb_ratio, type: real, low: 0.2, high: 1.5}
  - {name: temperature, type: real, low: 120, high: 220, unit: degC}
  - {name: time, type: real, low: 5, high: 300, unit: s, scale: log}
  - {name: ligand, type: categorical, values: [oleylamine, octylamine, dodecylamine]}
  - {name: washes, type: integer, low: 0, high: 3}
objectives:
  - {name: plqy, goal: maximize, from: measure_pl.quantum_yield}
planner: %s
workflow:
  - {step: dispense, capability: liquid_handler, params: {cs_pb_ratio: "${cs_pb_ratio}", ligand: "${ligand}", washes: "${washes}"}, retries: 2}
  - {step: heat, capability: hotplate, after: [dispense], params: {temperature: "${temperature}", time: "${time}"}, retries: 2}
  - {step: measure_pl, capability: pl_spectrometer, after: [heat], retries: 2}
devices:
  - {name: ot2, capabilities: [liquid_handler], key: "%(k)s/ot2.pub"}
  - {name: hotplate, capabilities: [hotplate], capacity: 4, key: "%(k)s/hotplate.pub"}
  - {name: pl-1, capabilities: [pl_spectrometer], key: "%(k)s/pl-1.pub"}
endpoints: {devices: "tcp://127.0.0.1:%d", control: "tcp://127.0.0.1:%d"}
heartbeat: {interval: 300ms, liveness: 4}
hub: campaign.db
security:
  key: "%(k)s/lab.key"
  clients:
    - {name: torture-operator, key: "%(k)s/op.pub", role: operator}
    - {name: torture-viewer, key: "%(k)s/viewer.pub", role: viewer}
""".replace("%(k)s", kdir.replace("%", "%%")) % (a.campaign_seed, a.experiments, planner, ports[0], ports[1]))
    if a.campaigns == 1:
        with open(camp, "w") as f:
            f.write(text)
        return lab, [camp], None
    camps = []
    for name, seed in (("tt", a.campaign_seed), ("tu", a.campaign_seed + 1)):
        path = os.path.join(hubdir, "%s.yaml" % name)
        with open(path, "w") as f:
            f.write(text.replace("campaign: {name: tt, seed: %d," % a.campaign_seed,
                                 "campaign: {name: %s, seed: %d," % (name, seed), 1))
        camps.append(path)
    service = os.path.join(hubdir, "service.yaml")
    with open(service, "w") as f:
        f.write("lab: {name: torture-lab}\n" + text[text.index("devices:\n  - {name: ot2"):])
    return lab, camps, service


class Run:
    """One seed: start everything, inject the schedule, check invariants."""

    def __init__(self, seed, a, disk_reason):
        self.seed, self.a = seed, a
        self.kinds = a.kinds
        self.disk_ok = disk_reason is None
        self.sched = Schedule(seed, a.kills, self.kinds, self.disk_ok)
        self.count = collections.Counter()
        self.problems = []
        self.info = {}
        self.orch = None
        self.procs = []
        self.mounted = None
        self.out_of_touch = collections.defaultdict(list)   # device -> [(start_us, end_us)]
        self.fabricated = []        # attempt ids an impostor sent a result for
        self.attack_failures = []   # attacks that were not refused
        self.pb = importlib.import_module("labloop_pb2")

    # ---- processes ----
    def start_orch(self, gen):
        life = self.sched.lives[gen] if gen < len(self.sched.lives) else {"fsync_ms": 0}
        cmd = [self.a.labloop, "run", self.camp, "--quiet"]
        if self.service:
            cmd = [self.a.labloop, "lab", self.service, "--quiet"]
        if life["fsync_ms"]:
            # --seccomp-bpf: only the traced calls stop the process
            cmd = ["strace", "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null", "-e", "trace=fsync,fdatasync",
                   "-e", "inject=fsync,fdatasync:delay_enter=%d" % (life["fsync_ms"] * 1000)] + cmd
            self.count["slow_fsync"] += 1
        self.orch_log.write(("--- start %d%s\n" % (gen, " (fsync +%d ms)" % life["fsync_ms"] if life["fsync_ms"] else "")).encode())
        self.orch_log.flush()
        self.orch = subprocess.Popen(cmd, stdout=self.orch_log, stderr=subprocess.STDOUT, start_new_session=True)
        self.orch_traced = bool(life["fsync_ms"])
        self.orch_t0 = time.monotonic()

    def orch_pid(self):
        """The labloop process itself (under strace, strace's child)."""
        if not self.orch_traced:
            return self.orch.pid
        kids = children(self.orch.pid)
        return kids[0] if kids else None

    def kill_orch(self):
        pid = self.orch_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while self.orch.poll() is None:
            if time.monotonic() > deadline:
                os.killpg(self.orch.pid, signal.SIGKILL)
            time.sleep(0.01)
        self.orch = None

    def campaign_statuses(self):
        """Each campaign's status ({} before the first is in the hub, None
        while the hub cannot be read)."""
        try:
            con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
            try:
                return dict(con.execute("select name, status from campaigns").fetchall())
            finally:
                con.close()
        except sqlite3.Error:
            return None

    def campaign_status(self):
        """The campaigns' status: an end status once every campaign has
        ended (of the first, in name order), else the first one's that has
        not; None before they are in the hub."""
        st = self.campaign_statuses()
        if not st or len(st) < len(self.camps):
            return None
        open_ = [v for k, v in sorted(st.items()) if v not in ("completed", "exhausted", "aborted")]
        return open_[0] if open_ else sorted(st.items())[0][1]

    def any_ended(self):
        """The end status of a campaign that has ended, or None."""
        for v in (self.campaign_statuses() or {}).values():
            if v in ("completed", "exhausted", "aborted"):
                return v
        return None

    def submit_all(self):
        """Hand the campaigns to the lab service just started (once: a submit
        answered is in the hub, and the lab resumes it after each kill)."""
        ep = "tcp://127.0.0.1:%d" % self.ports[1]
        deadline = time.monotonic() + 60
        for i, camp in enumerate(self.camps):
            while True:
                p = subprocess.run([self.a.labloop, "submit", camp, "--endpoint", ep, "--weight", str(i + 1),
                                    "--key", os.path.join(self.kdir, "op.key"),
                                    "--server-key", os.path.join(self.kdir, "lab.pub")],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
                out = p.stdout.decode(errors="replace")
                if p.returncode == 0 or "already in lab" in out:
                    break
                if time.monotonic() > deadline:
                    self.problems.append("submit %s: %s" % (camp, out.strip()))
                    return
                if self.orch.poll() is not None:
                    self.start_orch(0)
                time.sleep(0.2)

    def ended(self):
        """Experiments ended so far (None while the hub cannot be read)."""
        try:
            con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
            try:
                return con.execute("select count(*) from experiments where status in "
                                   "('measured','failed','cancelled')").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:
            return None

    def workers(self):
        """pid -> device name of the sim launcher's live workers."""
        out = {}
        for p in children(self.sim.pid) if self.sim.poll() is None else []:
            try:
                argv = open("/proc/%d/cmdline" % p, "rb").read().split(b"\0")
            except OSError:
                continue
            if len(argv) > 4 and argv[3] == b"--device" and alive(p):
                out[p] = argv[4].decode()
        return out

    # ---- disk full ----
    def fill_disk(self):
        fd = os.open(os.path.join(self.hubdir, "filler"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        chunk = b"\0" * 65536
        try:
            while os.write(fd, chunk) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        self.count["disk_full"] += 1

    def free_disk(self):
        try:
            os.unlink(os.path.join(self.hubdir, "filler"))
        except FileNotFoundError:
            pass

    # ---- the run ----
    def run(self):
        a = self.a
        self.dir = tempfile.mkdtemp(prefix="labloop-torture-%d." % self.seed, dir=a.tmp)
        self.hubdir = os.path.join(self.dir, "hub")
        os.mkdir(self.hubdir)
        if self.disk_ok:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk" % a.disk_kb, "tmpfs", self.hubdir], check=True)
            self.mounted = self.hubdir
        ports = free_ports(5)
        self.ports = ports
        self.kdir = os.path.join(self.dir, "keys")
        attacks.make_keys(a.labloop, self.kdir, KEY_NAMES)
        self.lab, self.camps, self.service = write_configs(self.dir, self.hubdir, ports, ports[2], a,
                                                           self.sched.planner, self.kdir)
        self.camp = self.camps[0]
        self.db = os.path.join(self.hubdir, "campaign.db")
        env = dict(os.environ, PYTHONPATH=a.gen_python)
        self.acks_path = os.path.join(self.dir, "acks.txt")
        self.stats_path = os.path.join(self.dir, "proxy.json")
        self.cuts_path = os.path.join(self.dir, "cuts.tsv")
        p = self.sched.proxy_seed
        px = [a.python, os.path.join(HERE, "proxy.py"), "--listen", "tcp://127.0.0.1:%d" % ports[2],
              "--upstream", "tcp://127.0.0.1:%d" % ports[0], "--seed", str(p),
              "--acks", self.acks_path, "--stats", self.stats_path, "--cuts", self.cuts_path, "--keys", self.kdir]
        k = self.kinds
        px += ["--p-delay", "0.15" if "delay" in k else "0", "--max-delay-ms", "150",
               "--p-dup", "0.05" if "dup" in k else "0", "--p-reorder", "0.05" if "reorder" in k else "0",
               "--p-late-hello", "0.5" if "late_hello" in k else "0",
               "--drop-mean-s", "8" if "drop" in k else "0", "--drop-ms", "2500"]
        self.proxy = subprocess.Popen(px, env=env, stdout=open(os.path.join(self.dir, "proxy.log"), "wb"),
                                      stderr=subprocess.STDOUT)
        self.procs.append(self.proxy)
        self.sim = subprocess.Popen([a.labloop, "sim", self.lab, "--verbose"],
                                    stdout=open(os.path.join(self.dir, "sim.log"), "wb"),
                                    stderr=subprocess.STDOUT, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        self.procs.append(self.sim)
        self.orch_log = open(os.path.join(self.dir, "run.log"), "ab")
        self.zctx = zmq.Context()
        t0 = time.monotonic()
        self.inject(t0)
        self.settle()
        self.stop_all()
        self.check()

    def inject(self, t0):
        """Follow the schedule until every planned kill is done."""
        gen = 0
        wq = list(self.sched.worker)
        aq = self.aq = list(self.sched.attacks)
        stopped = {}        # pid -> time to SIGCONT
        disk_until = None
        kills = 0
        self.start_orch(gen)
        if self.service:
            self.submit_all()
        deadline = time.monotonic() + self.a.deadline
        while kills < self.a.kills:
            now = time.monotonic()
            if now > deadline:
                self.problems.append("the fault schedule did not finish within %d s (%d kills done)" % (self.a.deadline, kills))
                break
            life = self.sched.lives[gen]
            st = self.any_ended()
            if st in ("completed", "exhausted", "aborted"):
                self.problems.append("campaign ended (%s) after %d of %d kills: make the budget larger" % (st, kills, len(self.sched.lives)))
                break
            # the disk fills up during this life
            if life["disk"] and disk_until is None and now - self.orch_t0 >= life["disk_at"]:
                self.fill_disk()
                disk_until = now + life["disk_hold"]
            if disk_until is not None and now >= disk_until:
                self.free_disk()
                disk_until = None
                life["disk"] = False
            if self.orch is not None and self.orch.poll() is not None:
                # it stopped on its own (a failed commit): start it again
                # once the disk is free
                self.count["orch_exit"] += 1
                self.orch = None
            if self.orch is None and disk_until is None:
                gen = min(gen + 1, len(self.sched.lives) - 1)
                self.start_orch(gen)
            elif self.orch is not None and now - self.orch_t0 >= life["life"]:
                if life["pair"]:
                    self.worker_fault(life["pair"], now, stopped)
                self.kill_orch()
                kills += 1
                self.count["orch_kill"] += 1
                if disk_until is not None:
                    self.free_disk()
                    disk_until = None
                gen = min(gen + 1, len(self.sched.lives) - 1)
                if kills < self.a.kills:
                    self.start_orch(gen)
            # attacks: only at an orchestrator that is up and not about to
            # be killed by the disk, so that its refusal can be read back
            if aq and now - t0 >= aq[0][0] and self.orch is not None and disk_until is None:
                if self.attack(aq[0][1:]):
                    aq.pop(0)
            if self.sched.rogue_at is not None and now - t0 >= self.sched.rogue_at:
                self.sched.rogue_at = None
                self.rogue()
            # worker faults
            while wq and now - t0 >= wq[0][0]:
                self.worker_fault(wq.pop(0)[1:], now, stopped)
            for pid, t in list(stopped.items()):
                if now >= t:
                    self.cont(pid)
                    del stopped[pid]
            time.sleep(0.01)
        for pid in stopped:
            self.cont(pid)
        self.free_disk()
        self.info["ended_at_last_kill"] = self.ended()
        self.kills = kills

    def attack(self, plan):
        """Make one attack and check that the orchestrator refused it.
        False when the orchestrator does not answer yet (try again later)."""
        kind, variant, victim, holder, cmd = plan
        before = attacks.security(self.a.labloop, self.camp, self.kdir)
        if before is None or self.orch is None or self.orch.poll() is not None:
            return False
        pid = self.orch_pid()
        counter = ATTACK_COUNTER[variant]
        wall = int(time.time() * 1e6)
        if kind == "impersonate":
            running = None
            try:
                con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
                row = con.execute("select attempt_id from steps where device = ? and status = 'running' "
                                  "order by id desc limit 1", (victim,)).fetchone()
                con.close()
                running = row[0] if row else None
            except sqlite3.Error:
                pass
            att = running or "tt/1/dispense/99"
            caps = {"ot2": ["liquid_handler"], "hotplate": ["hotplate"], "pl-1": ["pl_spectrometer"]}[victim]
            attacks.impersonate(self.pb, self.zctx, "tcp://127.0.0.1:%d" % self.ports[0], self.kdir,
                                holder if variant == "valid_key" else None, victim, caps, att)
            self.fabricated.append(att)
            if variant == "valid_key":
                # ROUTER_HANDOVER: a valid key's connection under the
                # victim's routing id takes its route for a moment (its
                # messages are refused; a request sent meanwhile may be lost
                # and is repaired by the timeout), so the victim counts as
                # out of touch for the attack and a liveness window after it
                self.out_of_touch[victim].append((wall, int(time.time() * 1e6) + 3000000))
        else:
            ep = "tcp://127.0.0.1:%d" % self.ports[1]
            if variant == "viewer_key":
                # a viewer's command is answered with a refusal; an
                # orchestrator slowed by the fsync fault may answer late, and
                # then the refusal counter is the verdict
                reply = attacks.control(self.zctx, ep, self.kdir, "viewer", cmd, wait_s=5)
                if reply is not None and reply.get("ok"):
                    self.attack_failures.append("spoof_control %s %s was carried out: %s" % (variant, cmd, reply))
                elif reply is None:
                    self.count["viewer_no_answer"] += 1
            else:
                reply = attacks.control(self.zctx, ep, self.kdir, None, cmd, plain=(variant == "no_key"))
                if reply is not None:
                    self.attack_failures.append("spoof_control %s %s was answered: %s" % (variant, cmd, reply))
        # the refusal, read back from the same orchestrator process
        deadline = time.monotonic() + 8
        after = None
        while time.monotonic() < deadline:
            after = attacks.security(self.a.labloop, self.camp, self.kdir)
            if after is not None and after["security"][counter] > before["security"][counter]:
                break
            if self.orch.poll() is not None or self.orch_pid() != pid:
                after = None
                break
            time.sleep(0.1)
        self.count[kind] += 1
        if after is None or self.orch.poll() is not None:
            self.count["attack_unverified"] += 1     # the orchestrator stopped meanwhile
            return True
        grown = after["security"][counter] - before["security"][counter]
        if grown <= 0:
            self.attack_failures.append("%s %s (victim %s, key of %s): %s did not grow" % (kind, variant, victim, holder, counter))
        else:
            self.count["refused:%s/%s:%s" % (kind, variant, counter)] += 1
        if kind == "spoof_control" and after.get("status") != before.get("status"):
            self.attack_failures.append("spoof_control %s %s changed the campaign from %s to %s"
                                        % (variant, cmd, before.get("status"), after.get("status")))
        return True

    def rogue(self):
        """A rogue orchestrator (its own key, its own ports) that lists ot2
        with ot2's real public key, and a worker holding ot2's key pair but
        pinned to the lab's key pointed at it: the handshake must fail (the
        rogue counts it) and the worker must never register there."""
        d = os.path.join(self.dir, "rogue")
        os.mkdir(d)
        rp = self.ports[3]
        camp = os.path.join(d, "rogue.yaml")
        with open(camp, "w") as f:
            f.write("""campaign: {name: rogue, seed: 1, budget: {experiments: 1}}
space:
  - {name: x, type: real, low: 0, high: 1}
objectives:
  - {name: a, goal: maximize, from: s.v}
workflow:
  - {step: s, capability: liquid_handler}
devices:
  - {name: ot2, capabilities: [liquid_handler], key: "%(k)s/ot2.pub"}
endpoints: {devices: "tcp://127.0.0.1:%(p)d", control: "tcp://127.0.0.1:%(c)d"}
heartbeat: {interval: 200ms, liveness: 3}
hub: rogue.db
security:
  key: "%(k)s/rogue-lab.key"
  clients: [{name: torture-operator, key: "%(k)s/op.pub", role: operator}]
""" % {"k": self.kdir, "p": rp, "c": self.ports[4]})
        wcfg = os.path.join(d, "worker.yaml")
        with open(wcfg, "w") as f:
            f.write("name: ot2\nendpoint: tcp://127.0.0.1:%d\ndriver: null\ncapabilities: [liquid_handler]\n"
                    "keys: {key: %s/ot2.key, orchestrator: %s/lab.pub}\n" % (rp, self.kdir, self.kdir))
        logf = open(os.path.join(d, "rogue.log"), "wb")
        orch = subprocess.Popen([self.a.labloop, "run", camp, "--quiet"], stdout=logf, stderr=subprocess.STDOUT)
        worker = None
        try:
            deadline = time.monotonic() + 10
            while attacks.security(self.a.labloop, camp, self.kdir) is None:
                if time.monotonic() > deadline or orch.poll() is not None:
                    self.attack_failures.append("rogue_orch: the rogue orchestrator did not start (%s)" % d)
                    return
                time.sleep(0.1)
            worker = subprocess.Popen([self.a.labloop, "worker", "--config", wcfg], stdout=logf, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 10
            st = None
            while time.monotonic() < deadline:
                st = attacks.security(self.a.labloop, camp, self.kdir)
                if st is not None and st["security"]["refused_connections"] >= 1:
                    break
                time.sleep(0.1)
            time.sleep(0.5)      # time enough to register, were it going to
            st = attacks.security(self.a.labloop, camp, self.kdir)
            self.count["rogue_orch"] += 1
            if st is None or st["security"]["refused_connections"] < 1:
                self.attack_failures.append("rogue_orch: the rogue saw no failed handshake from the pinned worker")
            else:
                self.count["refused:rogue_orch:refused_connections"] += st["security"]["refused_connections"]
            states = {x["name"]: x["state"] for x in (st or {}).get("devices", [])}
            if states.get("ot2") not in (None, "offline"):
                self.attack_failures.append("rogue_orch: the pinned worker registered with the rogue (%s)" % states)
            ready = sqlite3.connect(os.path.join(d, "rogue.db")).execute(
                "select count(*) from events where kind = 'device.ready'").fetchone()[0]
            if ready:
                self.attack_failures.append("rogue_orch: the rogue's hub has the pinned worker ready")
        finally:
            for p in (worker, orch):
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
            logf.close()

    def worker_fault(self, fault, now, stopped):
        kind, dev, pause = fault
        pids = [p for p, n in self.workers().items() if n == dev]
        if not pids:
            return
        wall = int(time.time() * 1e6)
        if kind == "worker_kill":
            os.kill(pids[0], signal.SIGKILL)
            stopped.pop(pids[0], None)
            self.out_of_touch[dev].append((wall, wall))
        elif pids[0] not in stopped:
            os.kill(pids[0], signal.SIGSTOP)
            stopped[pids[0]] = now + pause
            self.out_of_touch[dev].append((wall, wall + int(pause * 1e6)))
        self.count[kind] += 1

    def cont(self, pid):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def settle(self):
        """No more kills: let the campaign end (restarting the orchestrator
        if it stops while the campaign still runs)."""
        deadline = time.monotonic() + self.a.finish_deadline
        while True:
            if self.orch is None:
                self.start_orch(len(self.sched.lives))   # past the schedule: no strace
            rc = self.orch.poll()
            st = self.campaign_status()
            if self.service and rc is None and st in ("completed", "exhausted", "aborted"):
                # a lab service goes on after its campaigns: stop it
                self.orch.send_signal(signal.SIGTERM)
                try:
                    self.orch.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.orch.pid, signal.SIGKILL)
                    self.orch.wait()
                self.orch = None
                return
            if rc is not None:
                self.orch = None
                if st in ("completed", "exhausted", "aborted"):
                    return
                self.count["orch_exit"] += 1
            if time.monotonic() > deadline:
                self.problems.append("campaign did not end within %d s of the last fault (status %s)" % (self.a.finish_deadline, st))
                return
            # attacks the schedule had no time for are made now, at an
            # orchestrator that is no longer killed
            if self.aq and self.orch is not None and st not in ("completed", "exhausted", "aborted"):
                if self.attack(self.aq[0][1:]):
                    self.aq.pop(0)
                continue
            time.sleep(0.05)

    def stop_all(self):
        self.count["attack_not_run"] += len(getattr(self, "aq", []))
        if self.orch is not None and self.orch.poll() is None:
            os.killpg(self.orch.pid, signal.SIGKILL)
            self.orch.wait()
        if getattr(self, "sim", None) is not None:
            for pid in children(self.sim.pid):
                self.cont(pid)
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if getattr(self, "orch_log", None) is not None:
            self.orch_log.close()
        if getattr(self, "zctx", None) is not None:
            self.zctx.term()
            self.zctx = None
        try:
            self.count.update(json.load(open(self.stats_path)))
        except (OSError, ValueError):
            self.problems.append("the proxy left no statistics")

    def cleanup(self, keep):
        if self.mounted:
            # keep the hub of a failed run: copy it out before the unmount
            if keep:
                shutil.copytree(self.hubdir, self.hubdir + "-copy", dirs_exist_ok=True)
            subprocess.run(["umount", "-l", self.mounted])
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- invariants ----
    def check(self):
        c = self.count
        c.pop("forwarded", None)
        c.pop("discarded", None)
        try:
            con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        except sqlite3.Error as e:
            self.problems.append("cannot open the hub: %s" % e)
            return
        P = self.problems
        ic = con.execute("PRAGMA integrity_check").fetchall()
        if ic != [("ok",)]:
            P.append("integrity_check: %s" % ic[:5])
        sts = dict(con.execute("select name, status from campaigns").fetchall())
        if len(sts) != len(self.camps):
            P.append("the hub has %d campaigns, %d were run" % (len(sts), len(self.camps)))
        for name, st in sorted(sts.items()):
            if st not in ("completed", "exhausted"):
                P.append("campaign %s status %s" % (name, st))
        per = dict(con.execute("select c.name, count(e.seq) from campaigns c left join experiments e"
                               " on e.campaign = c.id group by c.id").fetchall())
        for name, k in sorted(per.items()):
            if k != self.a.experiments:
                P.append("the hub has %d experiments of %s, the budget %d" % (k, name, self.a.experiments))
        n = sum(per.values())
        open_ = con.execute("select seq, status from experiments where status not in ('measured','failed','cancelled')").fetchall()
        if open_:
            P.append("experiments that never ended: %s" % open_[:10])
        hub = {r[0]: r[1:4] for r in con.execute("select attempt_id, experiment, step, status from steps")}
        given_up = {r[0]: r[1] for r in con.execute("select attempt_id, finished_us from steps where status = 'lost'")}
        hub_n = collections.Counter(con.execute("select c.name, s.experiment, s.step from steps s"
                                                " join campaigns c on c.id = s.campaign").fetchall())
        # the lab's journal
        starts = collections.defaultdict(list)
        boots = collections.defaultdict(list)
        ends = {}
        for line in open(os.path.join(self.dir, "journal.tsv")):
            f = line.rstrip("\n").split("\t")
            if f[0] == "start":
                starts[f[1]].append((int(f[6]), f[4], int(f[5])))
            elif f[0] == "end":
                ends.setdefault(f[1], int(f[6]))
            elif f[0] == "boot":
                boots[f[4]].append(int(f[6]))
        twice = {k: v for k, v in starts.items() if len(v) > 1}
        c["double_exec"] = len(twice)
        if twice:
            P.append("attempts executed more than once by the lab: %s" %
                     ", ".join("%s x%d" % (k, len(v)) for k, v in sorted(twice.items())[:10]))
        per_step = collections.Counter()
        for att, v in starts.items():
            parts = att.rsplit("/", 3)
            if len(parts) != 4:
                P.append("journal: attempt id %r is not CAMPAIGN/EXPERIMENT/STEP/N" % att)
                continue
            per_step[(parts[0], int(parts[1]), parts[2])] += len(v)
        over = [(k, m, hub_n.get(k, 0)) for k, m in sorted(per_step.items()) if m > hub_n.get(k, 0)]
        c["step_overrun"] = len(over)
        if over:
            P.append("steps executed more often than the hub has attempts for them: %s" %
                     ", ".join("%s experiment %d %s: %d executions, %d attempts" % (k[0], k[1], k[2], m, h)
                               for k, m, h in over[:10]))
        # A retry must not start while an earlier attempt of the same step
        # may still run, unless that attempt's device was out of touch past
        # its liveness window meanwhile (paused, killed or cut off by the
        # proxy): then the orchestrator may rightly give it up. An attempt
        # without an "end" line ended when its worker died (the device's
        # next "boot" line).
        if os.path.exists(self.cuts_path):
            for line in open(self.cuts_path):
                f = line.split("\t")
                if len(f) == 3:
                    self.out_of_touch[f[0]].append((int(f[1]), int(f[2])))
        by_step = collections.defaultdict(list)
        for att, v in starts.items():
            parts = att.rsplit("/", 3)
            if len(parts) == 4:
                t, dev, _ = v[0]
                end = ends.get(att)
                if end is None:
                    later = [b for b in boots[dev] if b > t]
                    end = min(later) if later else float("inf")
                by_step[(parts[0], parts[1], parts[2])].append((t, end, dev, att))
        overlaps, excused = [], 0
        for runs in by_step.values():
            runs.sort()
            for i in range(1, len(runs)):
                t2 = runs[i][0]
                for t1, e1, dev1, att1 in runs[:i]:
                    if t2 >= e1:
                        continue
                    if any(fs <= t2 and fe >= t1 for fs, fe in self.out_of_touch.get(dev1, [])):
                        excused += 1
                    else:
                        overlaps.append("%s started %.3f s before %s ended" % (runs[i][3], (e1 - t2) / 1e6 if e1 != float("inf") else float("inf"), att1))
        # An attempt the hub calls lost that the lab ran to its end, on a
        # device in touch from the attempt's start until the orchestrator
        # gave it up, was given up while it ran (or while its result was on
        # its way).
        lost_running = []
        for att, (exp, step, status) in hub.items():
            if status != "lost" or att not in starts or att not in ends:
                continue
            t1, dev, _ = starts[att][0]
            until = max(ends[att], given_up.get(att) or 0)
            if not any(fs <= until and fe >= t1 for fs, fe in self.out_of_touch.get(dev, [])):
                lost_running.append(att)
        c["lost_running"] = len(lost_running)
        if lost_running:
            P.append("attempts recorded as lost that ran to their end on a device in touch: %s" % ", ".join(sorted(lost_running)[:10]))
        c["retry_overlap"] = len(overlaps)
        c["retry_overlap_excused"] = excused
        if overlaps:
            P.append("retries started while an earlier attempt still ran on a device in touch: %s" % "; ".join(overlaps[:10]))
        # every acknowledged result is in the hub
        acked = set()
        if os.path.exists(self.acks_path):
            acked |= {x.strip() for x in open(self.acks_path) if x.strip()}
        n_proxy = len(acked)
        for m in re.finditer(r"result of (\S+) acknowledged", open(os.path.join(self.dir, "sim.log"), errors="replace").read()):
            acked.add(m.group(1))
        c["acks_checked"] = len(acked)
        missing = sorted(x for x in acked if x not in hub or hub[x][2] not in FINAL_STEP)
        c["acked_missing"] = len(missing)
        if missing:
            P.append("acknowledged results not in the hub: %s" %
                     ", ".join("%s (%s)" % (x, hub[x][2] if x in hub else "no row") for x in missing[:10]))
        if n_proxy == 0:
            P.append("the proxy saw no Ack at all")
        # the attacks: each refused (checked as it ran), nothing an impostor
        # sent is in the hub, and the refusals are events in the hub
        P.extend("attack accepted: %s" % x for x in self.attack_failures)
        c["attack_accepted"] = len(self.attack_failures)
        forged = con.execute("select attempt_id from steps where result like ?", ("%" + attacks.MARKER + "%",)).fetchall()
        c["fabricated_recorded"] = len(forged)
        if forged:
            P.append("results fabricated by an impostor are in the hub: %s" % ", ".join(r[0] for r in forged[:10]))
        ev = dict(con.execute("select subject, count(*) from events where kind = 'security.refused' group by subject").fetchall())
        for k, v in ev.items():
            c["refused_events:" + k] = v
        for variant, counter in ATTACK_COUNTER.items():
            subj = counter.split("_")[1].rstrip("s")
            if any(c.get("refused:%s/%s:%s" % (k, variant, counter)) for k in ("impersonate", "spoof_control")) and not ev.get(subj):
                P.append("refused %ss were counted but no security.refused event for them is in the hub" % subj)
        self.info["executions"] = sum(len(v) for v in starts.values())
        self.info["experiments"] = n
        con.close()


def main():
    ap = argparse.ArgumentParser(description="labloop torture suite")
    ap.add_argument("--labloop", default=os.path.join(ROOT, "build", "labloop"))
    ap.add_argument("--seeds", default="1", help="seeds: '1,2,7' or '1-10'")
    ap.add_argument("--kills", type=int, default=24, help="orchestrator SIGKILLs per seed")
    ap.add_argument("--experiments", type=int, default=60, help="the campaign's budget")
    ap.add_argument("--speed", type=float, default=300)
    ap.add_argument("--campaign-seed", type=int, default=11)
    ap.add_argument("--campaigns", type=int, choices=(1, 2), default=1,
                    help="2: two campaigns (tt, weights 1, and tu, weight 2, each of --experiments) in one lab "
                         "service (labloop lab) instead of labloop run")
    ap.add_argument("--faults", default="all",
                    help="comma-separated fault kinds, or 'all' (kinds that need a missing feature are left out)")
    ap.add_argument("--min-kills", type=int, default=0, help="fail unless the seeds together killed the orchestrator this often")
    ap.add_argument("--deadline", type=int, default=400, help="seconds for one seed's fault schedule")
    ap.add_argument("--finish-deadline", type=int, default=240, help="seconds for the campaign to end after the last fault")
    ap.add_argument("--disk-kb", type=int, default=8192)
    ap.add_argument("--keep", action="store_true", help="keep every run's directory (a failed run's is always kept)")
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--python", default=os.environ.get("PYTHON", "/usr/bin/python3"))
    ap.add_argument("--gen-python", default=None)
    ap.add_argument("--list-faults", action="store_true")
    a = ap.parse_args()
    if a.list_faults:
        for k, v in FAULT_KINDS.items():
            print("%-14s %s%s" % (k, v, "  [hook: needs %s]" % NEEDS[k] if k in NEEDS else ""))
        return 0
    a.labloop = os.path.abspath(a.labloop)
    a.gen_python = a.gen_python or os.path.join(os.path.dirname(a.labloop), "gen", "python")
    sys.path.insert(0, a.gen_python)
    if not zmq.has("curve"):
        print("torture: this python3-zmq has no CURVE support (libzmq built without libsodium)", file=sys.stderr)
        return 2
    seeds = []
    for part in a.seeds.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            seeds += list(range(int(lo), int(hi) + 1))
        elif part:
            seeds.append(int(part))
    want = list(FAULT_KINDS) if a.faults == "all" else [x.strip() for x in a.faults.split(",") if x.strip()]
    for k in want:
        if k not in FAULT_KINDS:
            print("torture: unknown fault kind '%s' (see --list-faults)" % k, file=sys.stderr)
            return 2
    hooks = [k for k in want if k in NEEDS]
    if hooks and a.faults != "all":
        print("torture: %s need %s, which this build does not have yet" % (", ".join(hooks), "/".join(sorted({NEEDS[k] for k in hooks}))), file=sys.stderr)
        return 2
    a.kinds = [k for k in want if k not in NEEDS]
    disk_reason = None
    if "disk_full" in a.kinds:
        if os.geteuid() != 0:
            disk_reason = "not root: cannot mount a tmpfs for the hub"
        elif not shutil.which("mount"):
            disk_reason = "no mount command"
        else:
            probe = tempfile.mkdtemp(prefix="labloop-torture-probe.", dir=a.tmp)
            m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if m.returncode != 0:
                disk_reason = "cannot mount a tmpfs: %s" % m.stdout.decode(errors="replace").strip()
            else:
                subprocess.run(["umount", probe])
            os.rmdir(probe)
        if disk_reason:
            log("torture: disk_full skipped: %s" % disk_reason)
            a.kinds.remove("disk_full")
            disk_reason = None
    if "slow_fsync" in a.kinds and not shutil.which("strace"):
        print("torture: strace is missing (scripts/install-deps.sh installs it)", file=sys.stderr)
        return 2
    for tool, what in ((a.labloop, "labloop"), (os.path.join(a.gen_python, "labloop_pb2.py"), "labloop_pb2.py")):
        if not os.path.exists(tool):
            print("torture: no %s at %s: build it with make" % (what, tool), file=sys.stderr)
            return 2
    if hooks:
        log("torture: hooks not run (they need %s): %s" % ("/".join(sorted({NEEDS[k] for k in hooks})), ", ".join(hooks)))
    log("torture: seeds %s, %d orchestrator kills each, %s%d experiments, faults: %s"
        % (a.seeds, a.kills, "two campaigns in a lab service, each of " if a.campaigns == 2 else "", a.experiments,
           ", ".join(a.kinds)))
    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    total = collections.Counter()
    failed = []
    t_start = time.monotonic()
    for seed in seeds:
        r = Run(seed, a, disk_reason)
        t0 = time.monotonic()
        try:
            r.run()
        except KeyboardInterrupt:
            # interrupted (Ctrl-C, SIGTERM): leave no process or mount behind
            try:
                r.stop_all()
            except Exception:
                pass
            r.cleanup(a.keep)
            log("torture: interrupted during seed %d" % seed)
            return 130
        except Exception as e:           # a harness error is a failure too
            r.problems.append("harness error: %r" % e)
            try:
                r.stop_all()
            except Exception:
                pass
        dt = time.monotonic() - t0
        keep = a.keep or bool(r.problems)
        r.cleanup(keep)
        total.update(r.count)
        total["seeds"] += 1
        if not r.problems:
            total["kills_survived"] += r.count["orch_kill"]
        faults = " ".join("%s=%d" % (k, r.count[k]) for k in FAULT_KINDS if r.count.get(k))
        log("seed %d: %s  kills %d/%d, %d executions, %d experiments, double executions %d, "
            "lost while running %d, retry overlaps %d, acks checked %d, orchestrator exits on its own %d, "
            "experiments ended by the last kill %s (%.0f s)  faults: %s"
            % (seed, "FAIL" if r.problems else "ok", r.kills if hasattr(r, "kills") else 0,
               a.kills, r.info.get("executions", 0), r.info.get("experiments", 0), r.count["double_exec"],
               r.count["lost_running"], r.count["retry_overlap"], r.count["acks_checked"], r.count["orch_exit"], r.info.get("ended_at_last_kill"), dt, faults))
        if r.problems:
            failed.append(seed)
            for p in r.problems:
                log("  seed %d: %s" % (seed, p))
            log("  reproduce: %s %s --labloop %s --seeds %d --kills %d --experiments %d --campaigns %d --faults %s --keep"
                % (a.python, os.path.relpath(__file__), short(a.labloop), seed, a.kills,
                   a.experiments, a.campaigns, ",".join(a.kinds)))
            log("  kept: %s" % r.dir)
    runtime = time.monotonic() - t_start
    log("torture: %d seeds, %d failed%s" % (len(seeds), len(failed), " (%s)" % ",".join(map(str, failed)) if failed else ""))
    log("torture: orchestrator kills survived %d; double executions found %d; steps run beyond their attempts %d; "
        "acknowledged results missing %d; attempts lost while running %d; retries while the attempt still ran %d (%d more excused by a device fault); runtime %.0f s"
        % (total["kills_survived"], total["double_exec"],
           total["step_overrun"], total["acked_missing"], total["lost_running"], total["retry_overlap"], total["retry_overlap_excused"], runtime))
    log("torture: faults injected by kind: %s" % ", ".join("%s %d" % (k, total[k]) for k in FAULT_KINDS if k not in NEEDS))
    log("torture: attacks refused (the orchestrator's counter that grew): %s; attacks accepted %d; fabricated results recorded %d; "
        "unverified (orchestrator stopped meanwhile) %d, not run %d, viewer commands answered late %d; security.refused events in the hubs: %s"
        % (", ".join("%s %d" % (k.split(":", 1)[1], total[k]) for k in sorted(total) if k.startswith("refused:")) or "none",
           total["attack_accepted"], total["fabricated_recorded"], total["attack_unverified"], total["attack_not_run"], total["viewer_no_answer"],
           ", ".join("%s %d" % (k.split(":", 1)[1], total[k]) for k in sorted(total) if k.startswith("refused_events:")) or "none"))
    if total["orch_kill"] < a.min_kills:
        log("torture: FAIL: only %d orchestrator kills, at least %d wanted" % (total["orch_kill"], a.min_kills))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
