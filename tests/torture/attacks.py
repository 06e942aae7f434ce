"""The attacks of the torture suite: impersonation of a device, spoofed
control commands and a rogue orchestrator, each against a campaign that runs
with CurveZMQ on both endpoints. Every attack returns what it expects the
orchestrator to count (status --json security.refused_*); the harness checks
that the count grew, and afterwards that nothing the attacker sent reached
the hub. Needs python3-zmq with CURVE and the generated labloop_pb2.
"""
import json
import os
import re
import subprocess
import time

import zmq

SIG = b"LAB\x01"
# a value no real device sends: a fabricated result carries it, and the hub
# must never hold it
MARKER = "torture-impostor"


def read_key(path):
    """(public, secret or None) of a key file made by `labloop keygen`, Z85."""
    text = open(path).read()
    pub = re.search(r'public-key = "([^"]{40})"', text)
    sec = re.search(r'secret-key = "([^"]{40})"', text)
    return pub.group(1).encode(), sec.group(1).encode() if sec else None


def make_keys(labloop, kdir, names):
    os.makedirs(kdir, exist_ok=True)
    for n in names:
        if not os.path.exists(os.path.join(kdir, n + ".key")):
            subprocess.run([labloop, "keygen", n, "--dir", kdir], check=True, stdout=subprocess.DEVNULL)


def curve_client(sock, kdir, key_name, server_name="lab"):
    """Make sock a CURVE client with kdir/key_name.key (None: a key pair no
    one knows) that trusts kdir/server_name.pub."""
    if key_name is None:
        pub, sec = zmq.curve_keypair()
    else:
        pub, sec = read_key(os.path.join(kdir, key_name + ".key"))
    sock.curve_publickey = pub
    sock.curve_secretkey = sec
    sock.curve_serverkey = read_key(os.path.join(kdir, server_name + ".pub"))[0]


def _envelope(pb, seq, **body):
    env = pb.Envelope()
    env.seq = seq
    for k, v in body.items():
        getattr(env, k).CopyFrom(v)
    return env.SerializeToString()


def impersonate(pb, ctx, endpoint, kdir, key_name, victim, capabilities, attempt_id, wait_s=0.6):
    """A DEALER with routing id `victim` (and a Hello naming it) holding
    key_name's key (None: an unknown key) sends a Hello and a fabricated
    StepResult for attempt_id. Returns the number of replies it got."""
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.ROUTING_ID, victim.encode())
    curve_client(s, kdir, key_name)
    s.connect(endpoint)
    hello = pb.Hello(device=victim, driver="sim.impostor", capabilities=capabilities, capacity=1,
                     software_version="torture")
    res = pb.StepResult(attempt_id=attempt_id, status=pb.StepResult.DONE,
                        started_us=int(time.time() * 1e6) - 1000, finished_us=int(time.time() * 1e6))
    p = res.values.add()
    p.name = "quantum_yield"
    p.value.text = MARKER
    replies = 0
    try:
        s.send_multipart([SIG, _envelope(pb, 1, hello=hello)], zmq.NOBLOCK)
        s.send_multipart([SIG, _envelope(pb, 2, step_result=res)], zmq.NOBLOCK)
    except zmq.ZMQError:
        pass
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        if s.poll(50):
            s.recv_multipart()
            replies += 1
    s.close(0)
    return replies


def control(ctx, endpoint, kdir, key_name, cmd, plain=False, wait_s=0.6):
    """A control request from a client without a key (plain), with an
    unknown key (key_name None) or with key_name's key. Returns the reply
    (a dict) or None when none came."""
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    if not plain:
        curve_client(s, kdir, key_name)
    s.connect(endpoint)
    reply = None
    try:
        s.send_string(json.dumps({"cmd": cmd, "reason": "torture: spoofed"}), zmq.NOBLOCK)
        if s.poll(int(wait_s * 1000)):
            reply = json.loads(s.recv_string())
    except (zmq.ZMQError, ValueError):
        pass
    s.close(0)
    return reply


def security(labloop, camp, kdir, timeout=8):
    """The running orchestrator's security counters and campaign state, read
    with the operator key, or None when it does not answer."""
    try:
        p = subprocess.run([labloop, "status", camp, "--key", os.path.join(kdir, "op.key"), "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        return None
    try:
        d = json.loads(p.stdout)
    except ValueError:
        return None
    return d
