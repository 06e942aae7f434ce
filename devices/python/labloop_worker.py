"""labloop worker client for Python instruments.

What it is for: connecting an instrument whose SDK is in Python to a labloop
orchestrator, with the same behaviour as the C worker runtime
(devices/worker.c, protocols/PROTOCOL.md): Hello, Welcome/Refuse
(NOT_REGISTERED means "say Hello again"), heartbeats both ways with liveness
and reconnect with backoff, results kept in an outbox until Ack and re-sent
every 3 s and after each Welcome, idempotent repeated StepRequests, Control
CANCEL/ESTOP/CLEAR, step deadlines, and an e-stop request from the device.
Not for: running the orchestrator, or anything that blocks the loop (steps
run in threads).

Dependencies (Debian 12): python3-zmq, python3-protobuf, and labloop_pb2.py
generated at build time by `make` (protoc --python_out=build/gen/python);
set LABLOOP_PYTHON_GEN to that directory when the worker runs elsewhere.

Usage:

    from labloop_worker import Worker

    w = Worker("uvvis-1", "tcp://127.0.0.1:5560", capacity=1)
    # with CURVE (a lab config with a security section; needed off loopback):
    # Worker(..., key="keys/uvvis-1.key", orchestrator_key="keys/lab.pub")

    @w.step("uvvis")
    def measure(step):
        conc = step.params["concentration"]        # typed: float, int, str, bool
        if step.cancelled.wait(2.0):               # honour cancel / deadline / e-stop
            return {}
        step.log("lamp on")
        step.artifact("spectrum.csv", b"nm,abs\\n500,0.4\\n", "text/csv")
        return {"absorbance": 0.42 * conc}         # numbers, strings, booleans

    raise SystemExit(w.run())                      # 0 on SIGINT/SIGTERM, 3 if refused

A step function's return value (a dict) becomes the result values; an
exception fails the step with its message.
"""

import hashlib
import logging
import math
import os
import queue
import signal
import sys
import threading
import time

_HERE = os.path.dirname(os.path.abspath(__file__))


def _missing(pkg, mod, err):
    sys.stderr.write(
        "labloop_worker: cannot import %s (%s); install the Debian package %s:\n"
        "  apt-get install %s\n" % (mod, err, pkg, pkg))
    raise SystemExit(2)


try:
    import zmq
except ImportError as e:  # pragma: no cover - environment check
    _missing("python3-zmq", "zmq", e)
try:
    import google.protobuf  # noqa: F401
except ImportError as e:  # pragma: no cover
    _missing("python3-protobuf", "google.protobuf", e)

for _d in (os.environ.get("LABLOOP_PYTHON_GEN"),
           os.path.join(_HERE, "..", "..", "build", "gen", "python")):
    if _d and os.path.isfile(os.path.join(_d, "labloop_pb2.py")):
        sys.path.insert(0, os.path.abspath(_d))
        break
try:
    import labloop_pb2 as pb
except ImportError as e:  # pragma: no cover
    sys.stderr.write(
        "labloop_worker: cannot import labloop_pb2 (%s): it is generated from "
        "protocols/labloop.proto at build time. Run `make` (needs protobuf-compiler) "
        "or set LABLOOP_PYTHON_GEN to the directory holding labloop_pb2.py\n" % e)
    raise SystemExit(2)

PROTO_VERSION = 1
SIGNATURE = b"LAB" + bytes([PROTO_VERSION])
MSG_MAX = 1 << 20                 # LAB_MSG_MAX
OUTBOX_SUFFIX = ".result"          # files of the on-disk outbox (devices/outbox.h)
OUTBOX_RUN_MAX = 64                # LAB_OUTBOX_RUN_MAX
OUTBOX_NAME_MAX = 255              # the longest file name (devices/outbox.c)
OUTBOX_HASH_HEX = 16               # hex digits of SHA-256 ending a cut attempt id
VERSION = "0.1.0"
TICK_S = 0.05
RESEND_S = 3.0
ESTOP_RESEND_S = 1.0
STOP_GRACE_S = 2.0
# after a cancel or deadline, how long a step function gets to return before
# its result is sent anyway (its thread cannot be killed)
ABANDON_S = 5.0

log = logging.getLogger("labloop_worker")

# What a worker checks in a StepRequest (PROTOCOL.md §6.5; the C runtime's
# protocols/request_check.h holds the same limits).
ATTEMPT_ID_MAX = 255
STEP_PARAMS_MAX = 256
STEP_NAME_MAX = 128
STEP_TEXT_MAX = 16384
_ID_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/")


def _control_free(text):
    return not any(ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f for ch in text)


def check_attempt_id(attempt):
    """None when attempt is an id a worker acts on, else the reason."""
    raw = attempt.encode("utf-8", "surrogatepass")
    if not raw:
        return "the attempt id is empty"
    if len(raw) > ATTEMPT_ID_MAX:
        return "the attempt id is longer than %d bytes" % ATTEMPT_ID_MAX
    for i, b in enumerate(raw):
        if b not in _ID_CHARS:
            return ("the attempt id holds byte 0x%02x at offset %d; only letters, digits, "
                    "'.', '_', '-' and '/' are allowed" % (b, i))
    for seg in raw.split(b"/"):
        if not seg:
            return "the attempt id has an empty segment (a leading, trailing or double '/')"
        if seg in (b".", b".."):
            return "the attempt id has a '%s' segment" % seg.decode()
    return None


def check_request(req):
    """None when the rest of a StepRequest is within bounds, else the reason."""
    for what, text in (("step name", req.step), ("capability", req.capability),
                       ("experiment id", req.experiment_id), ("sample id", req.sample_id)):
        if len(text.encode()) > STEP_NAME_MAX:
            return "the %s is longer than %d bytes" % (what, STEP_NAME_MAX)
        if not _control_free(text):
            return "the %s holds control characters" % what
    if len(req.params) > STEP_PARAMS_MAX:
        return "the request has %d parameters; at most %d are accepted" % (
            len(req.params), STEP_PARAMS_MAX)
    for i, p in enumerate(req.params):
        if not p.name:
            return "parameter %d has no name" % (i + 1)
        for what, text in (("parameter name", p.name), ("unit of a parameter", p.unit)):
            if len(text.encode()) > STEP_NAME_MAX:
                return "the %s is longer than %d bytes" % (what, STEP_NAME_MAX)
            if not _control_free(text):
                return "the %s holds control characters" % what
        name = "".join(ch for ch in p.name if _control_free(ch))[:47]
        kind = p.value.WhichOneof("kind")
        if kind == "number" and not math.isfinite(p.value.number):
            return "parameter '%s' is not a finite number" % name
        if kind == "text" and len(p.value.text.encode()) > STEP_TEXT_MAX:
            return "parameter '%s' is longer than %d bytes" % (name, STEP_TEXT_MAX)
    return None

Status = pb.StepResult
Kind = pb.StepUpdate


class Refused(Exception):
    """The orchestrator refused this worker (not NOT_REGISTERED)."""


class _Ended(Exception):
    """The orchestrator said its campaign ended (Refuse CAMPAIGN_ENDED)."""


def _to_value(v):
    val = pb.Value()
    if isinstance(v, bool):
        val.flag = v
    elif isinstance(v, int):
        val.number = float(v)
    elif isinstance(v, float):
        val.number = v
    elif isinstance(v, str):
        val.text = v
    else:
        raise TypeError("result values must be numbers, strings or booleans, got %s"
                        % type(v).__name__)
    return val


def _from_value(val):
    kind = val.WhichOneof("kind")
    return getattr(val, kind) if kind else None


class Step:
    """One attempt, as a step function sees it. Thread-safe methods."""

    def __init__(self, worker, req):
        self._w = worker
        self.attempt = req.attempt_id
        self.experiment = req.experiment_id
        self.sample = req.sample_id
        self.name = req.step
        self.capability = req.capability
        self.params = {p.name: _from_value(p.value) for p in req.params}
        self.units = {p.name: p.unit for p in req.params if p.unit}
        self.timeout_ms = req.timeout_ms
        self.cancelled = threading.Event()   # set at cancel, deadline, e-stop, shutdown
        self.artifacts = []
        # worker-thread only:
        self.started_us = int(time.time() * 1e6)
        self.deadline = time.monotonic() + req.timeout_ms / 1000.0 if req.timeout_ms else None
        self.stop_status = 0
        self.stop_reason = ""
        self.stop_at = None

    def log(self, text):
        """Send a LOG line to the orchestrator."""
        self._w._events.put(("update", self.attempt, Kind.LOG, 0.0, str(text)))

    def progress(self, fraction):
        self._w._events.put(("update", self.attempt, Kind.PROGRESS, float(fraction), ""))

    def artifact(self, name, data, media_type="application/octet-stream"):
        """Attach a file's bytes to the result (sha256 and size computed)."""
        if isinstance(data, str):
            data = data.encode()
        self.artifacts.append((name, media_type, bytes(data)))


def _endpoint_is_local(endpoint):
    """ipc, inproc, or tcp to 127.0.0.0/8, ::1 or localhost (as the C side)."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[6:].split(";")[-1].rsplit(":", 1)[0]
    if host in ("localhost", "[::1]", "::1"):
        return True
    parts = host.split(".")
    return (len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)
            and parts[0] == "127")


def _load_keys(key, orchestrator_key, endpoint):
    """(public, secret, server) as bytes for CURVE, or None in plain mode."""
    if not key and not orchestrator_key:
        if not _endpoint_is_local(endpoint):
            raise ValueError("endpoint %s is reachable from other machines: pass key= and "
                             "orchestrator_key= (CURVE; labloop keygen) or use a loopback endpoint"
                             % endpoint)
        return None
    if not key or not orchestrator_key:
        raise ValueError("CURVE needs both key= (this device's .key) and orchestrator_key= (the lab's .pub)")
    mode = os.stat(key).st_mode
    if mode & 0o077:
        raise ValueError("%s: secret key file is readable by %s (mode %04o); run chmod 600 %s"
                         % (key, "its group" if mode & 0o070 else "others", mode & 0o7777, key))
    import zmq.auth
    public, secret = zmq.auth.load_certificate(key)
    server, _ = zmq.auth.load_certificate(orchestrator_key)
    if not secret:
        raise ValueError("%s holds no secret key; make key files with labloop keygen" % key)
    if not server:
        raise ValueError("%s holds no public key; make key files with labloop keygen" % orchestrator_key)
    return public, secret, server


class Worker:
    def __init__(self, name, endpoint, capabilities=None, capacity=1, driver="python",
                 reconnect_min_ms=500, reconnect_max_ms=5000, outbox_dir=None,
                 key=None, orchestrator_key=None):
        """outbox_dir: also keep each result not yet acknowledged as a file
        there (fsync'd before it is first sent, removed on its Ack, read back
        by run()), so it survives a crash or restart of this worker; the same
        files as the C runtime's `outbox` directory (docs/DEVICES.md).
        key, orchestrator_key: CURVE, like the C worker's `keys:` — this
        device's secret key file (`labloop keygen NAME`, mode 0600) and the
        orchestrator's public key file, pinned: the worker talks only to the
        orchestrator holding that key. Without them the endpoint must be
        loopback or ipc (ValueError otherwise)."""
        self._curve = _load_keys(key, orchestrator_key, endpoint)
        self.name = name
        self.outbox_dir = outbox_dir
        self.endpoint = endpoint
        self.capacity = max(1, int(capacity))
        self.driver = driver
        self._caps = list(capabilities or [])
        self._handlers = {}
        self._rmin = max(1, reconnect_min_ms) / 1000.0
        self._rmax = max(reconnect_min_ms, reconnect_max_ms) / 1000.0
        self._events = queue.Queue()
        self._ctx = None
        self._sock = None
        self._seq = 0
        self._ready = False
        self._hb_s, self._liveness = 1.0, 3
        self._backoff = self._rmin
        self._hello_at = self._last_rx = self._last_hb = 0.0
        self._running = {}          # attempt -> Step
        self._outbox = {}           # attempt -> [bytes, sent_at, run it was made under]
        self._run = ""              # the last Welcome's run
        self._started = None        # attempt ids started under the run (None before a Welcome)
        self._started_run = None
        self._journal = None        # its file (started-<run>.log) with an outbox_dir
        self.estopped = False
        self._estop_pending = None  # our e-stop request, until confirmed
        self._estop_sent = 0.0
        self._stop = False
        self._result = 0

    # ---- the API ----

    def step(self, capability):
        """Decorator: register fn(step) -> dict for capability."""
        def deco(fn):
            self.handle(capability, fn)
            return fn
        return deco

    def handle(self, capability, fn):
        self._handlers[capability] = fn
        if capability not in self._caps:
            self._caps.append(capability)

    def estop(self, reason):
        """A safety input of this device tripped: latch e-stop here and ask the
        orchestrator to halt the campaign (Control ESTOP, re-sent until the
        orchestrator answers with its own). Thread-safe."""
        self._events.put(("estop", reason))

    def stop(self):
        self._events.put(("stop",))

    # ---- sending ----

    def _encode(self, **body):
        self._seq += 1
        env = pb.Envelope(seq=self._seq, **body)
        return env.SerializeToString()

    def _send_raw(self, data):
        if self._sock is None:
            return
        try:
            self._sock.send_multipart([SIGNATURE, data], flags=zmq.DONTWAIT)
        except zmq.Again:
            pass                      # treated as lost: heartbeats, re-sends and Hello repair it
        except zmq.ZMQError as e:
            log.warning("send: %s", e)

    def _send(self, **body):
        self._send_raw(self._encode(**body))

    def _hello(self):
        self._send(hello=pb.Hello(
            device=self.name, driver=self.driver, capabilities=self._caps,
            capacity=self.capacity, software_version=VERSION,
            unacked_attempts=list(self._outbox), running_attempts=list(self._running),
            estopped=self.estopped))
        self._hello_at = time.monotonic()

    def _update(self, attempt, kind, fraction=0.0, text=""):
        self._send(step_update=pb.StepUpdate(attempt_id=attempt, kind=kind, fraction=fraction,
                                             text=text))

    def _send_estop_request(self):
        if self._estop_pending is None or not self._ready:
            return
        self._send(control=pb.Control(action=pb.Control.ESTOP, reason=self._estop_pending))
        self._estop_sent = time.monotonic()

    # ---- connection ----

    def _connect(self):
        if self._sock is not None:
            self._sock.close(linger=0)
        s = self._ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.MAXMSGSIZE, 4 * MSG_MAX)
        s.setsockopt(zmq.ROUTING_ID, self.name.encode())
        if self._curve:
            s.curve_publickey, s.curve_secretkey, s.curve_serverkey = self._curve
        s.connect(self.endpoint)
        self._sock = s
        self._ready = False
        self._hello()

    # ---- results ----

    def _store(self, attempt, status, values=None, artifacts=(), error="", started_us=0):
        r = pb.StepResult(attempt_id=attempt, status=status, started_us=started_us,
                          finished_us=int(time.time() * 1e6), error=error)
        try:
            for k, v in (values or {}).items():
                r.values.add(name=str(k)).value.CopyFrom(_to_value(v))
        except TypeError as e:
            del r.values[:]
            r.status, r.error = Status.FAILED, "device '%s': %s" % (self.name, e)
        inline = MSG_MAX - 64 * 1024
        for name, media, data in artifacts:
            a = r.artifacts.add(name=name, media_type=media, size=len(data),
                                sha256=hashlib.sha256(data).digest())
            if len(data) <= inline:
                a.content = data
                inline -= len(data)
            else:
                log.warning("artifact %s (%d bytes) too large to send inline; sent without content",
                            name, len(data))
        data = self._encode(step_result=r)
        if len(data) > MSG_MAX:
            data = self._encode(step_result=pb.StepResult(
                attempt_id=attempt, status=Status.FAILED, started_us=started_us,
                finished_us=r.finished_us,
                error="result of %d bytes is over the %d-byte message limit" % (len(data), MSG_MAX)))
        self._outbox[attempt] = [data, 0.0, self._run]
        self._save(self._run, attempt, data)
        self._send_outbox(attempt)

    # ---- the outbox on disk (the same files as devices/outbox.c) ----

    @staticmethod
    def _escape_byte(b, first):
        c = chr(b)
        plain = (b < 128 and c.isalnum()) or c in "-_" or (c == "." and not first)
        return c if plain else "%%%02X" % b

    @classmethod
    def _escape(cls, text, limit=None):
        return "".join(cls._escape_byte(b, i == 0) for i, b in enumerate(text.encode()[:limit]))

    @classmethod
    def _outbox_name(cls, run, attempt):
        """The file name's stem, as devices/outbox.c makes it: an attempt id
        whose escaped form would make the name longer than 255 bytes is cut
        (never inside an escape) and ends in '~' and 16 hex digits of its
        SHA-256."""
        head = cls._escape(run, OUTBOX_RUN_MAX) + "+" if run else ""
        room = OUTBOX_NAME_MAX - len(OUTBOX_SUFFIX) - len(head)
        esc = cls._escape(attempt)
        if len(esc) <= room:
            return head + esc
        keep, cut = room - OUTBOX_HASH_HEX - 1, 0
        for i, b in enumerate(attempt.encode()):
            w = len(cls._escape_byte(b, i == 0))
            if cut + w > keep:
                break
            cut += w
        digest = hashlib.sha256(attempt.encode()).hexdigest()[:OUTBOX_HASH_HEX]
        return head + esc[:cut] + "~" + digest

    def _outbox_path(self, run, attempt, suffix=OUTBOX_SUFFIX):
        return os.path.join(self.outbox_dir, self._outbox_name(run, attempt) + suffix)

    def _save(self, run, attempt, data):
        if not self.outbox_dir:
            return
        tmp, path = self._outbox_path(run, attempt, ".tmp"), self._outbox_path(run, attempt)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
            self._sync_dir()
        except OSError as e:
            log.error("device '%s': result of %s not saved in the outbox: %s (it is kept in "
                      "memory only)", self.name, attempt, e)
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _sync_dir(self):
        dfd = os.open(self.outbox_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _acked(self, attempt):
        entry = self._outbox.pop(attempt, None)
        if entry is not None and self.outbox_dir:
            try:
                os.unlink(self._outbox_path(entry[2], attempt))
            except FileNotFoundError:
                pass
            except OSError as e:
                log.warning("device '%s': cannot remove an acknowledged result from the outbox: %s",
                            self.name, e)

    def _adopt_run(self, run):
        """A Welcome named its run: results kept from another run are set aside unsent."""
        if not run:
            return
        self._run = run[:OUTBOX_RUN_MAX]
        for attempt, entry in list(self._outbox.items()):
            if not entry[2] or entry[2] == self._run:
                continue
            del self._outbox[attempt]
            if self.outbox_dir:
                path = self._outbox_path(entry[2], attempt)
                stale = os.path.join(self.outbox_dir, "stale")
                try:
                    os.makedirs(stale, mode=0o700, exist_ok=True)
                    os.rename(path, os.path.join(stale, os.path.basename(path)))
                    self._sync_dir()
                except OSError as e:
                    log.warning("device '%s': %s", self.name, e)
            log.warning("device '%s': the result of %s is from another run of the campaign (%s, "
                        "now %s): set aside%s, not sent", self.name, attempt, entry[2], self._run,
                        " in the outbox's stale/" if self.outbox_dir else "")

    @staticmethod
    def _unescape(text):
        raw, i = bytearray(), 0
        while i < len(text):
            if text[i] == "%":
                raw.append(int(text[i + 1:i + 3], 16))
                i += 3
            else:
                raw.append(ord(text[i]))
                i += 1
        return raw.decode()

    def _load_outbox(self):
        """Make the directory if missing (its parent must exist, as for the C
        runtime), check it can be written, remove saves a crash cut short and
        take in the results it holds."""
        try:
            try:
                os.mkdir(self.outbox_dir, 0o700)
            except FileExistsError:
                pass
            if not os.access(self.outbox_dir, os.W_OK | os.X_OK):
                raise PermissionError(13, "cannot write there")
            names = sorted(os.listdir(self.outbox_dir))
        except OSError as e:
            raise OSError("outbox %s: %s" % (self.outbox_dir, e.strerror)) from e
        n = 0
        for fn in names:
            path = os.path.join(self.outbox_dir, fn)
            if fn.endswith(".tmp"):
                try:
                    os.unlink(path)
                except OSError:
                    pass
                continue
            if not fn.endswith(OUTBOX_SUFFIX) or fn == OUTBOX_SUFFIX:
                continue
            data, attempt, run = b"", "", ""
            try:
                with open(path, "rb") as f:
                    data = f.read(MSG_MAX + 1)
                env = pb.Envelope()
                env.ParseFromString(data)
                if env.WhichOneof("body") == "step_result":
                    attempt = env.step_result.attempt_id
                run = self._unescape(fn.split("+", 1)[0]) if "+" in fn else ""
            except Exception:       # noqa: BLE001 - any unreadable file is reported alike
                attempt = ""
            if len(data) > MSG_MAX or not attempt or self._outbox_path(run, attempt) != path:
                log.warning("%s in the outbox is not a saved result; left as it is", path)
                continue
            self._outbox[attempt] = [data, 0.0, run]
            n += 1
        if n:
            log.info("device '%s': %d result(s) not yet acknowledged read back from the outbox "
                     "%s; they are sent again once registered", self.name, n, self.outbox_dir)

    # ---- the record of started attempts (the same files as devices/started.c) ----

    def _journal_name(self, run):
        return "started-%s.log" % self._escape(run) if run else "started.log"

    def _adopt_started(self, run):
        """Open the record of attempts started under run (from the Welcome):
        one %-escaped id a line; a torn last line is cut off; journals of
        other runs go to stale/."""
        run = (run or "")[:OUTBOX_RUN_MAX]
        if self._started is not None and run == self._started_run:
            return
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self._started, self._started_run = set(), run
        if not self.outbox_dir:
            return
        name = self._journal_name(run)
        path = os.path.join(self.outbox_dir, name)
        try:
            for fn in os.listdir(self.outbox_dir):
                if fn.startswith("started") and fn.endswith(".log") and fn != name:
                    stale = os.path.join(self.outbox_dir, "stale")
                    os.makedirs(stale, mode=0o700, exist_ok=True)
                    os.rename(os.path.join(self.outbox_dir, fn), os.path.join(stale, fn))
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                data = b""
            good = data.rfind(b"\n") + 1
            for line in data[:good].split(b"\n")[:-1]:
                try:
                    self._started.add(self._unescape(line.decode("ascii")))
                except (ValueError, UnicodeDecodeError):
                    log.warning("%s: an unreadable line is skipped", path)
            if good != len(data):
                os.truncate(path, good)      # a write a crash cut short: never started
            self._journal = open(path, "ab", buffering=0)
            self._sync_dir()
        except OSError as e:
            log.error("device '%s': the record of started attempts cannot be kept on disk: %s; "
                      "after a restart of this worker an attempt could run again", self.name, e)
        if self._started:
            log.info("device '%s': %d attempt(s) of run %s already started here; they are not "
                     "run again", self.name, len(self._started), run or "(unknown)")

    def _mark_started(self, attempt):
        """Record attempt as started, on disk (fsync'd) before it starts. False if not recorded."""
        if attempt in self._started:
            return True
        if self._journal is not None:
            line = (self._escape(attempt) + "\n").encode("ascii")
            size = os.fstat(self._journal.fileno()).st_size
            try:
                self._journal.write(line)
                os.fsync(self._journal.fileno())
            except OSError as e:
                try:
                    os.truncate(self._journal.name, size)
                except OSError:
                    pass
                log.error("device '%s': cannot record attempt %s as started: %s", self.name, attempt, e)
                return False
        self._started.add(attempt)
        return True

    def _answer_started(self, attempt):
        why = ("device '%s' already started attempt %s and holds no result for it (the worker "
               "restarted while it ran, or its result was acknowledged); not run again"
               % (self.name, attempt))
        log.warning("%s", why)
        self._store(attempt, Status.FAILED, error=why, started_us=int(time.time() * 1e6))

    def _send_outbox(self, attempt):
        if not self._ready:
            return
        entry = self._outbox[attempt]
        self._send_raw(entry[0])
        entry[1] = time.monotonic()

    # ---- steps ----

    def _run_step(self, step, fn):
        try:
            values = fn(step) or {}
            if not isinstance(values, dict):
                raise TypeError("a step function must return a dict of results, got %s"
                                % type(values).__name__)
            self._events.put(("done", step, Status.DONE, values, ""))
        except Exception as e:  # the instrument's error becomes the step's
            log.debug("step %s failed", step.attempt, exc_info=True)
            self._events.put(("done", step, Status.FAILED, {}, "%s: %s" % (type(e).__name__, e)))

    def _finish(self, step, status, values, error):
        if self._running.get(step.attempt) is not step:
            return                    # already reported (abandoned after a cancel)
        del self._running[step.attempt]
        if step.stop_status:
            status, error, values = step.stop_status, step.stop_reason, values
        elif status != Status.DONE:
            error = "device '%s': step '%s': %s" % (self.name, step.name, error)
        self._store(step.attempt, status, values, step.artifacts, error, step.started_us)

    def _stop_step(self, step, status, reason):
        if step.stop_status:
            return
        step.stop_status, step.stop_reason = status, reason
        step.stop_at = time.monotonic()
        step.cancelled.set()

    def _on_request(self, req):
        a = req.attempt_id
        bad = check_attempt_id(a)
        if bad:
            # not answered: an answer would carry the id back, and it would
            # name a file in the outbox
            log.warning("device '%s': step request dropped: %s", self.name, bad)
            return
        if a in self._running:
            self._update(a, Kind.ACCEPTED, text="already running")
            return
        if a in self._outbox:
            self._send_outbox(a)
            return
        now_us = int(time.time() * 1e6)
        bad = check_request(req)
        if bad:
            why = "device '%s' refused the request: %s" % (self.name, bad)
            log.warning("%s (attempt %s)", why, a)
            self._store(a, Status.FAILED, error=why, started_us=now_us)
            return
        if self._started is not None and a in self._started:
            self._answer_started(a)
            return
        if self.estopped:       # CANCELLED, as for the steps an e-stop stops: not the step's fault
            self._store(a, Status.CANCELLED, error="device '%s' is e-stopped" % self.name,
                        started_us=now_us)
            return
        if len(self._running) >= self.capacity:
            self._store(a, Status.FAILED, started_us=now_us,
                        error="device '%s' is busy: all %d slots in use" % (self.name, self.capacity))
            return
        fn = self._handlers.get(req.capability)
        if fn is None:
            self._store(a, Status.FAILED, started_us=now_us,
                        error="device '%s' has no handler for capability '%s'"
                        % (self.name, req.capability))
            return
        if not self._mark_started(a):
            self._store(a, Status.FAILED, started_us=now_us,
                        error="device '%s': cannot record the attempt as started" % self.name)
            return
        step = Step(self, req)
        self._running[a] = step
        self._update(a, Kind.ACCEPTED)
        threading.Thread(target=self._run_step, args=(step, fn), daemon=True,
                         name="step-" + a).start()

    def _on_control(self, c):
        if c.action == pb.Control.CANCEL:
            # every cancel is answered, so the orchestrator knows the attempt is not running
            a, why = c.attempt_id, c.reason or "cancelled by the orchestrator"
            step = self._running.get(a)
            if step:
                self._stop_step(step, Status.CANCELLED, why)
            elif a in self._outbox:
                self._send_outbox(a)
            elif self._started is not None and not check_attempt_id(a):
                if a in self._started:
                    self._answer_started(a)
                else:
                    self._mark_started(a)       # a late request for it is not run
                    self._store(a, Status.CANCELLED, started_us=int(time.time() * 1e6),
                                error="cancelled before it started on device '%s': %s" % (self.name, why))
        elif c.action == pb.Control.ESTOP:
            log.warning("device '%s': E-STOP: %s", self.name, c.reason)
            self._estop_pending = None
            self.estopped = True
            for step in list(self._running.values()):
                self._stop_step(step, Status.CANCELLED, "e-stop")
        elif c.action == pb.Control.CLEAR:
            log.info("device '%s': e-stop cleared", self.name)
            self.estopped = False
            self._estop_pending = None

    # ---- receiving ----

    def _handle(self, env):
        for a in env.acks:              # acks may ride on any message
            self._acked(a)
        body = env.WhichOneof("body")
        if body == "welcome":
            if not self._ready:
                log.info("device '%s' registered with %s (heartbeat %d ms)", self.name,
                         self.endpoint, env.welcome.heartbeat_ms)
            self._ready = True
            # the campaign config's bounds (10 ms..1 h, 1..100): a Welcome
            # outside them must not make the worker spin or never notice loss
            self._hb_s = min(max(env.welcome.heartbeat_ms or 1000, 10), 3600000) / 1000.0
            self._liveness = min(env.welcome.liveness or 3, 100)
            self._backoff = self._rmin
            self._adopt_run(env.welcome.run)
            self._adopt_started(env.welcome.run)
            for a in list(self._outbox):
                self._send_outbox(a)
            self._send_estop_request()
        elif body == "refuse":
            if env.refuse.reason == pb.Refuse.NOT_REGISTERED:
                log.warning("device '%s': the orchestrator does not know us as registered; "
                            "saying hello again", self.name)
                self._ready = False
                self._hello()
            elif env.refuse.reason == pb.Refuse.CAMPAIGN_ENDED:
                raise _Ended(env.refuse.detail or "the campaign ended")
            else:
                raise Refused("device '%s' refused by the orchestrator: %s"
                              % (self.name, env.refuse.detail))
        elif body == "step_request":
            if self._ready:
                self._on_request(env.step_request)
            else:
                log.warning("step request %s before Welcome ignored", env.step_request.attempt_id)
        elif body == "ack":
            for a in env.ack.attempt_ids:
                self._acked(a)
        elif body == "control":
            self._on_control(env.control)

    def _drain(self):
        while True:
            try:
                frames = self._sock.recv_multipart(flags=zmq.DONTWAIT)
            except zmq.Again:
                return
            if len(frames) != 2 or len(frames[0]) != 4 or frames[0][:3] != b"LAB":
                log.warning("bad message from the orchestrator: not a labloop message")
                continue
            if frames[0][3] != PROTO_VERSION:
                log.warning("bad message: protocol version %d is not supported (this worker "
                            "speaks %d)", frames[0][3], PROTO_VERSION)
                continue
            if len(frames[1]) > MSG_MAX:
                log.warning("bad message: %d bytes is over the limit", len(frames[1]))
                continue
            env = pb.Envelope()
            try:
                env.ParseFromString(frames[1])
            except Exception as e:
                log.warning("bad message: %s", e)
                continue
            if env.WhichOneof("body") is None:
                log.warning("bad message: envelope without a body")
                continue
            self._last_rx = time.monotonic()    # malformed messages are no sign of life
            self._handle(env)

    # ---- the loop ----

    def _events_drain(self):
        while True:
            try:
                ev = self._events.get_nowait()
            except queue.Empty:
                return
            if ev[0] == "done":
                self._finish(*ev[1:])
            elif ev[0] == "update":
                if ev[1] in self._running:
                    self._update(ev[1], ev[2], ev[3], ev[4])
            elif ev[0] == "estop":
                log.error("device '%s': E-STOP requested: %s", self.name, ev[1])
                self.estopped = True
                for step in list(self._running.values()):
                    self._stop_step(step, Status.CANCELLED, ev[1])
                self._estop_pending = ev[1]
                self._send_estop_request()
            elif ev[0] == "stop":
                self._stop = True

    def _tick(self):
        now = time.monotonic()
        for step in list(self._running.values()):
            if step.deadline and not step.stop_status and now >= step.deadline:
                self._stop_step(step, Status.TIMED_OUT, "device '%s': step '%s' timed out after "
                                "%.1f s" % (self.name, step.name, step.timeout_ms / 1000.0))
            if step.stop_at and now - step.stop_at > ABANDON_S:
                log.warning("step %s did not return %.0f s after being stopped; reporting it",
                            step.attempt, ABANDON_S)
                self._finish(step, step.stop_status, {}, step.stop_reason)
        if not self._ready:
            if now - self._hello_at > self._backoff:
                self._backoff = min(self._backoff * 2, self._rmax)
                log.warning("device '%s': no answer to hello; reconnecting to %s", self.name,
                            self.endpoint)
                self._connect()
            return
        if now - self._last_rx > self._hb_s * self._liveness:
            log.warning("device '%s': orchestrator silent; reconnecting", self.name)
            self._connect()
            return
        if now - self._last_hb >= self._hb_s:
            self._send(heartbeat=pb.Heartbeat(time_us=int(time.time() * 1e6)))
            self._last_hb = now
        for a, entry in list(self._outbox.items()):
            if now - entry[1] > RESEND_S:
                self._send_outbox(a)
        if self._estop_pending is not None and now - self._estop_sent >= ESTOP_RESEND_S:
            self._send_estop_request()

    def run(self):
        """Run until SIGINT/SIGTERM, stop() or the campaign's end (returns 0) or a refusal (returns 3);
        returns 1 at once when outbox_dir cannot be used.
        Call from the main thread."""
        if not self._caps:
            raise ValueError("no capabilities: register a step function first")
        if not self.outbox_dir:
            log.warning("device '%s': no outbox_dir: results not yet acknowledged and the record "
                        "of started attempts are kept in memory only; after a restart of this "
                        "worker, an attempt that was running may be run again", self.name)
        if self.outbox_dir:
            try:
                self._load_outbox()
            except OSError as e:
                log.error("device '%s': %s", self.name, e)
                return 1
        old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, lambda *_: self._events.put(("stop",)))
        self._ctx = zmq.Context()
        try:
            self._connect()
            while not self._stop:
                poller = zmq.Poller()
                poller.register(self._sock, zmq.POLLIN)
                if poller.poll(int(TICK_S * 1000)):
                    self._drain()
                self._events_drain()
                self._tick()
        except Refused as e:
            log.error("%s", e)
            self._result = 3
        except _Ended as e:
            log.info("device '%s': %s; stopping", self.name, e)
            self._result = 0
        finally:
            for step in list(self._running.values()):
                self._stop_step(step, Status.CANCELLED, "worker stopping")
            until = time.monotonic() + STOP_GRACE_S
            while self._running and time.monotonic() < until:
                try:
                    ev = self._events.get(timeout=TICK_S)
                except queue.Empty:
                    continue
                if ev[0] == "done":
                    self._finish(*ev[1:])
            if self._sock is not None:
                self._sock.close(linger=0)
            if self._journal is not None:
                self._journal.close()
            self._ctx.term()
            for sig, h in old.items():
                signal.signal(sig, h)
        return self._result
