#!/usr/bin/env python3
"""A faulty network between device workers and the orchestrator.

Workers connect to --listen (a ROUTER, as the orchestrator's device endpoint
is); for each worker the proxy opens its own DEALER to --upstream with the
worker's routing id, so the orchestrator sees the device name it expects.
Messages pass through unchanged, frame for frame, except that the proxy,
drawing every decision from one random generator seeded with --seed:

  delay      holds a message for up to --max-delay-ms;
  dup        sends a message twice (the copy a little later);
  reorder    holds a message until the next one of that peer and direction
             has passed (or 300 ms);
  late_hello holds a worker's Hello past the worker's own retry, so that its
             second Hello reaches the orchestrator after the first was
             answered (and often after a StepRequest went out), or replays
             a device's last Hello after a StepRequest was forwarded to it;
  drop       cuts a device off both ways for --drop-ms (longer than the
             heartbeat liveness window, so that both sides notice), throwing
             its messages away, then reconnects upstream with a new DEALER.

Each drop is noted in --cuts (device, wall-clock start and end in µs): a
device cut off past its liveness window may have its attempt retried while
it still runs, which the harness must allow. Every Ack the orchestrator sends (the Ack body and acks riding on other
messages) is written to --acks as one attempt id per line: the torture
harness checks each against the hub. Fault counts go to --stats (JSON) on
SIGTERM. Needs python3-zmq and the generated labloop_pb2 (PYTHONPATH).

With --keys DIR (a campaign with CurveZMQ on its device endpoint) the proxy
terminates CURVE on both sides: toward the workers it is a CURVE server
with the lab's key pair (DIR/lab.key), which the workers are pinned to, and
each per-device DEALER toward the orchestrator is a CURVE client with that
device's own key pair (DIR/DEVICE.key), so the orchestrator authenticates
every device exactly as it would without the proxy.
"""
import argparse
import heapq
import json
import os
import random
import signal
import sys
import time

import zmq

import labloop_pb2
from attacks import curve_client, read_key

REORDER_MAX_S = 0.3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--acks", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--cuts", required=True, help="file to note each drop in: DEVICE START_US END_US (wall clock)")
    ap.add_argument("--p-delay", type=float, default=0.0)
    ap.add_argument("--max-delay-ms", type=float, default=100)
    ap.add_argument("--p-dup", type=float, default=0.0)
    ap.add_argument("--p-reorder", type=float, default=0.0)
    ap.add_argument("--p-late-hello", type=float, default=0.0)
    ap.add_argument("--hello-hold-ms", type=float, default=800,
                    help="how long a late Hello is held (longer than the worker's first retry)")
    ap.add_argument("--drop-mean-s", type=float, default=0.0, help="mean time between drops per device (0: none)")
    ap.add_argument("--drop-ms", type=float, default=1500)
    ap.add_argument("--keys", default=None, help="CURVE keys directory (lab.key and one DEVICE.key per device)")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    ctx = zmq.Context()
    front = ctx.socket(zmq.ROUTER)
    front.setsockopt(zmq.LINGER, 0)
    front.setsockopt(zmq.ROUTER_HANDOVER, 1)
    if a.keys:
        front.curve_server = True
        front.curve_publickey, front.curve_secretkey = read_key(os.path.join(a.keys, "lab.key"))
    front.bind(a.listen)
    acks = open(a.acks, "a", buffering=1)
    cuts = open(a.cuts, "a", buffering=1)
    stats = {"delay": 0, "dup": 0, "reorder": 0, "late_hello": 0, "drop": 0, "forwarded": 0, "discarded": 0}
    ups = {}            # routing id -> DEALER
    owner = {}          # DEALER -> routing id
    last_hello = {}     # routing id -> frames of its last Hello
    cut_until = {}      # routing id -> monotonic end of a drop
    next_drop = {}      # routing id -> monotonic time of its next drop
    held = {}           # (id, dir) -> [deadline, frames] for reorder
    queue = []          # (time, n, dir, id, frames)
    n = [0]
    poller = zmq.Poller()
    poller.register(front, zmq.POLLIN)
    stop = [False]

    def on_term(*_):
        stop[0] = True
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def upstream(rid):
        s = ups.get(rid)
        if s is None:
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.ROUTING_ID, rid)
            if a.keys:
                name = rid.decode(errors="replace")
                # a routing id without a key file gets a key pair no one
                # knows: the orchestrator refuses it, as it should
                curve_client(s, a.keys, name if os.path.exists(os.path.join(a.keys, name + ".key")) else None)
            s.connect(a.upstream)
            ups[rid] = s
            owner[s] = rid
            poller.register(s, zmq.POLLIN)
            if a.drop_mean_s > 0:
                next_drop[rid] = time.monotonic() + rng.expovariate(1.0 / a.drop_mean_s)
        return s

    def cut(rid, now):
        s = ups.pop(rid, None)
        if s is not None:
            poller.unregister(s)
            del owner[s]
            s.close(0)
        cut_until[rid] = now + a.drop_ms / 1000.0
        wall = int(time.time() * 1e6)
        cuts.write("%s\t%d\t%d\n" % (rid.decode(errors="replace"), wall, wall + int(a.drop_ms * 1000)))
        stats["drop"] += 1

    def body(frames):
        if len(frames) != 2:
            return None
        env = labloop_pb2.Envelope()
        try:
            env.ParseFromString(frames[1])
        except Exception:
            return None
        return env

    def schedule(t, d, rid, frames):
        n[0] += 1
        heapq.heappush(queue, (t, n[0], d, rid, frames))

    def deliver(d, rid, frames):
        if rid in cut_until:
            stats["discarded"] += 1
            return
        stats["forwarded"] += 1
        try:
            if d == "up":
                upstream(rid).send_multipart(frames, zmq.NOBLOCK)
            else:
                front.send_multipart([rid] + frames, zmq.NOBLOCK)
        except zmq.ZMQError:
            stats["discarded"] += 1
        # a held message follows the next one of its peer and direction
        h = held.pop((rid, d), None)
        if h is not None:
            deliver(d, rid, h[1])

    def route(d, rid, frames, now):
        """Decide what happens to one message and schedule it."""
        if rid in cut_until:
            stats["discarded"] += 1
            return
        env = body(frames)
        kind = env.WhichOneof("body") if env is not None else None
        if d == "down" and env is not None:
            ids = list(env.acks) + (list(env.ack.attempt_ids) if kind == "ack" else [])
            for i in ids:
                acks.write(i + "\n")
        if d == "up" and kind == "hello":
            last_hello[rid] = frames
            if rng.random() < a.p_late_hello:
                stats["late_hello"] += 1
                schedule(now + a.hello_hold_ms / 1000.0 * (0.75 + 0.5 * rng.random()), d, rid, frames)
                return
        if d == "down" and kind == "step_request" and rid in last_hello and rng.random() < a.p_late_hello / 4:
            stats["late_hello"] += 1
            schedule(now + 0.01 + 0.2 * rng.random(), "up", rid, last_hello[rid])
        t = now
        if rng.random() < a.p_delay:
            stats["delay"] += 1
            t += rng.random() * a.max_delay_ms / 1000.0
        if rng.random() < a.p_dup:
            stats["dup"] += 1
            schedule(t + 0.001 + rng.random() * a.max_delay_ms / 1000.0, d, rid, frames)
        if (rid, d) not in held and rng.random() < a.p_reorder:
            stats["reorder"] += 1
            held[(rid, d)] = [now + REORDER_MAX_S, frames]
            return
        schedule(t, d, rid, frames)

    while not stop[0]:
        now = time.monotonic()
        for rid, end in list(cut_until.items()):
            if now >= end:
                del cut_until[rid]
                upstream(rid)
        for rid, t in list(next_drop.items()):
            if now >= t and rid not in cut_until:
                del next_drop[rid]
                cut(rid, now)
        for key, h in list(held.items()):
            if now >= h[0]:
                del held[key]
                schedule(now, key[1], key[0], h[1])
        while queue and queue[0][0] <= now:
            _, _, d, rid, frames = heapq.heappop(queue)
            deliver(d, rid, frames)
        wake = [queue[0][0]] if queue else []
        wake += list(cut_until.values()) + list(next_drop.values()) + [h[0] for h in held.values()]
        timeout = max(0.0, min(wake) - now) * 1000.0 if wake else 100.0
        try:
            events = dict(poller.poll(min(timeout, 100.0)))
        except zmq.ZMQError:
            continue
        now = time.monotonic()
        if front in events:
            for _ in range(1000):
                try:
                    msg = front.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                route("up", msg[0], msg[1:], now)
        for s in list(owner):
            if s in events:
                rid = owner[s]
                for _ in range(1000):
                    try:
                        msg = s.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    route("down", rid, msg, now)
    with open(a.stats + ".tmp", "w") as f:
        json.dump(stats, f)
    os.replace(a.stats + ".tmp", a.stats)
    for s in list(owner):
        s.close(0)
    front.close(0)
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
