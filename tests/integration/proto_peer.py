"""A scripted device worker for protocol tests: it speaks the wire protocol
directly (protocols/PROTOCOL.md) so a test can make it do what a real worker
does only under unlucky timing or what a worker written from the spec does.

usage: proto_peer.py MODE DEVICE ENDPOINT LOG

Every step request it receives is logged to LOG as "request ID", every
attempt it starts as "start ID" (an attempt it is already running is
answered "already running", never started twice). Its steps return
{"absorbance": 0.5}. It sends heartbeats every 100 ms and stops when told
that the campaign ended (logged "ended"), or after 60 s.

Modes:
  late-hello   after its first request, say Hello again listing nothing, as
               a Hello sent just before that request would arrive; finish
               the step 1.5 s after it started.
  estop-order  on its first request: cancel it (result CANCELLED), then
               send Control ESTOP, in the order PROTOCOL.md's e-stop from a
               device gives; later requests finish after 0.3 s.
  slow-cancel  never finish its first attempt and ignore its deadline; answer
               only the second CANCEL for it (logged "cancel N ID"), with
               CANCELLED; later requests finish after 0.3 s.
  bad-version  send one Hello under protocol version 2 and log the reply's
               signature ("reply-version N") and Refuse reason.
"""
import os
import sys
import time

import zmq

sys.path.insert(0, os.environ["LABLOOP_PYTHON_GEN"])
import labloop_pb2 as pb  # noqa: E402

mode, device, endpoint, log_path = sys.argv[1:5]
out = open(log_path, "a", buffering=1)
ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.setsockopt(zmq.ROUTING_ID, device.encode())
sock.setsockopt(zmq.LINGER, 0)
sock.connect(endpoint)
seq = 0


def send(version=1, **body):
    global seq
    seq += 1
    sock.send_multipart([b"LAB" + bytes([version]), pb.Envelope(seq=seq, **body).SerializeToString()])


def hello(version=1):
    send(version, hello=pb.Hello(device=device, driver="peer", capabilities=["uvvis"], capacity=1,
                                 software_version="peer", running_attempts=list(running)))


def result(attempt, status, error=""):
    values = [pb.Param(name="absorbance", value=pb.Value(number=0.5))] if status == pb.StepResult.DONE else []
    now = int(time.time() * 1e6)
    send(step_result=pb.StepResult(attempt_id=attempt, status=status, values=values, error=error,
                                   started_us=now, finished_us=now))


running = {}          # attempt -> time it is due to finish
hanging = set()       # attempts that never finish on their own
cancels = {}          # attempt -> CANCELs received
started = set()
if mode == "bad-version":
    hello(version=2)
    if sock.poll(5000):
        frames = sock.recv_multipart()
        env = pb.Envelope()
        env.ParseFromString(frames[1])
        out.write("reply-version %d %s\n" % (frames[0][3], pb.Refuse.Reason.Name(env.refuse.reason)))
    sys.exit(0)

hello()
deadline = time.time() + 60
last_hb = 0.0
late_hello_due = None
estopped = False
while time.time() < deadline:
    if sock.poll(20):
        frames = sock.recv_multipart()
        env = pb.Envelope()
        env.ParseFromString(frames[1])
        kind = env.WhichOneof("body")
        if kind == "step_request":
            a = env.step_request.attempt_id
            out.write("request %s\n" % a)
            if a in running or a in hanging:
                send(step_update=pb.StepUpdate(attempt_id=a, kind=pb.StepUpdate.ACCEPTED, text="already running"))
            elif a in started:
                result(a, pb.StepResult.FAILED, "already started, no result kept")
            elif mode == "estop-order" and not started:
                started.add(a)
                out.write("start %s\n" % a)
                send(step_update=pb.StepUpdate(attempt_id=a, kind=pb.StepUpdate.ACCEPTED))
                estopped = True
                result(a, pb.StepResult.CANCELLED, "e-stop: peer button")       # 1. cancel
                send(control=pb.Control(action=pb.Control.ESTOP, reason="peer button"))  # 2. request
            elif estopped:
                result(a, pb.StepResult.CANCELLED, "device is e-stopped")
            else:
                started.add(a)
                out.write("start %s\n" % a)
                send(step_update=pb.StepUpdate(attempt_id=a, kind=pb.StepUpdate.ACCEPTED))
                if mode == "slow-cancel" and len(started) == 1:
                    hanging.add(a)
                else:
                    running[a] = time.time() + (1.5 if mode == "late-hello" else 0.3)
                if mode == "late-hello" and late_hello_due is None:
                    late_hello_due = time.time() + 0.2
        elif kind == "control" and env.control.action == pb.Control.CLEAR:
            estopped = False
        elif kind == "control" and env.control.action == pb.Control.CANCEL:
            a = env.control.attempt_id
            cancels[a] = cancels.get(a, 0) + 1
            out.write("cancel %d %s\n" % (cancels[a], a))
            if a in hanging and cancels[a] >= 2:
                hanging.discard(a)
                result(a, pb.StepResult.CANCELLED, env.control.reason)
        elif kind == "refuse" and env.refuse.reason == pb.Refuse.CAMPAIGN_ENDED:
            out.write("ended\n")
            break
        elif kind == "refuse" and env.refuse.reason == pb.Refuse.NOT_REGISTERED:
            hello()
    now = time.time()
    if late_hello_due is not None and late_hello_due > 0 and now >= late_hello_due:
        late_hello_due = 0
        # As if sent before the request arrived: it lists no running attempt.
        send(hello=pb.Hello(device=device, driver="peer", capabilities=["uvvis"], capacity=1,
                            software_version="peer"))
        out.write("late hello\n")
    for a, due in list(running.items()):
        if now >= due:
            del running[a]
            result(a, pb.StepResult.DONE)
            out.write("done %s\n" % a)
    if now - last_hb > 0.1:
        send(heartbeat=pb.Heartbeat(time_us=int(now * 1e6)))
        last_hb = now
sock.close()
ctx.term()
