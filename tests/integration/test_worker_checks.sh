# The Python client checks what it receives (PROTOCOL.md §6.5), like the C
# runtime (tests/unit/test_exec.c): a stand-in orchestrator (a real ROUTER
# socket) welcomes a real Python worker process and sends requests whose
# attempt ids are not ids ("..", path segments, control bytes, too long):
# none is answered or run. A good request after them is run; requests with
# too many parameters, a huge text or a NaN number get FAILED results that
# say which limit.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
export LABLOOP_PYTHON_GEN=${LABLOOP_PYTHON_GEN:-$(dirname "$LABLOOP")/gen/python}
[ -f "$LABLOOP_PYTHON_GEN/labloop_pb2.py" ] || fail "no $LABLOOP_PYTHON_GEN/labloop_pb2.py: build it with make"
PORT=$(free_port)

cat >"$T/worker.py" <<PY
import sys
sys.path.insert(0, "$ROOT/devices/python")
from labloop_worker import Worker
w = Worker("py-checks", "tcp://127.0.0.1:$PORT", capacity=4)
@w.step("touch")
def touch(step):
    open("$T/ran-" + step.attempt.replace("/", "_"), "w").close()
    return {"ok": True}
sys.exit(w.run())
PY

"$PY" - "$PORT" "$T" "$PY" <<'PY' || fail "the Python worker's checks (see above)"
import os, subprocess, sys, time
sys.path.insert(0, os.environ["LABLOOP_PYTHON_GEN"])
import zmq
import labloop_pb2 as pb
port, tdir, py = sys.argv[1], sys.argv[2], sys.argv[3]
SIG = b"LAB\x01"
ctx = zmq.Context()
r = ctx.socket(zmq.ROUTER)
r.bind("tcp://127.0.0.1:%s" % port)
log = open(os.path.join(tdir, "worker.log"), "w")
w = subprocess.Popen([py, os.path.join(tdir, "worker.py")], stderr=log)
seq = [0]
def send(ident, **body):
    seq[0] += 1
    r.send_multipart([ident, SIG, pb.Envelope(seq=seq[0], **body).SerializeToString()])
def recv(timeout_s):
    if not r.poll(int(timeout_s * 1000)):
        return None, None
    frames = r.recv_multipart()
    env = pb.Envelope()
    env.ParseFromString(frames[-1])
    return frames[0], env
def fail(msg):
    w.terminate(); w.wait()
    sys.exit("FAIL: " + msg)
try:
    deadline = time.time() + 10
    ident = None
    while ident is None:
        if time.time() > deadline:
            fail("no Hello from the Python worker")
        i, env = recv(1)
        if env is not None and env.WhichOneof("body") == "hello":
            ident = i
    send(ident, welcome=pb.Welcome(heartbeat_ms=1000, liveness=10, campaign="t", run="r1"))
    def request(attempt, params=()):
        send(ident, step_request=pb.StepRequest(attempt_id=attempt, experiment_id="c/1", step="s",
                                                capability="touch", sample_id="S-1", params=list(params)))
    bad = ["..", ".", "../x", "c/1/../../s/1", "c/1/./1", "c//1", "/c/1", "c/1/s/1/",
           "c/1\x1b[2Jx/1", "c/1\ttab/1", "c/1 sp/1", "c\\1", "c/1\x00/1", "a" * 300]
    for a in bad:
        request(a)
    request("c/1/s/1")
    many = [pb.Param(name="p%d" % i, value=pb.Value(number=i)) for i in range(257)]
    request("c/1/s/2", many)
    request("c/1/s/3", [pb.Param(name="notes", value=pb.Value(text="x" * 16385))])
    request("c/1/s/4", [pb.Param(name="x", value=pb.Value(number=float("nan")))])
    want = {"c/1/s/1": (pb.StepResult.DONE, ""), "c/1/s/2": (pb.StepResult.FAILED, "parameters"),
            "c/1/s/3": (pb.StepResult.FAILED, "'notes'"), "c/1/s/4": (pb.StepResult.FAILED, "finite")}
    got = {}
    deadline = time.time() + 15
    while len(got) < len(want):
        if time.time() > deadline:
            fail("results missing: %s" % sorted(set(want) - set(got)))
        _, env = recv(1)
        if env is None:
            continue
        send(ident, heartbeat=pb.Heartbeat())
        body = env.WhichOneof("body")
        a = getattr(env, body).attempt_id if body in ("step_update", "step_result") else None
        if a is not None and a not in want:
            fail("the worker answered attempt id %r" % a)
        if body == "step_result":
            got[a] = env.step_result
            send(ident, ack=pb.Ack(attempt_ids=[a]))
    for a, (status, words) in want.items():
        res = got[a]
        if res.status != status or words not in res.error:
            fail("%s: status %d error %r, wanted status %d with %r" % (a, res.status, res.error, status, words))
    ran = sorted(f for f in os.listdir(tdir) if f.startswith("ran-"))
    if ran != ["ran-c_1_s_1"]:
        fail("steps that ran: %s" % ran)
    print("ok: %d hostile attempt ids dropped, 3 requests beyond the limits FAILED, 1 good one ran" % len(bad))
finally:
    w.terminate()
    w.wait()
PY
grep -q "step request dropped: the attempt id has a '..' segment" "$T/worker.log" || fail "no logged reason for the '..' request"
pass "Python worker checks attempt ids and parameter bounds"
