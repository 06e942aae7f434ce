#!/usr/bin/env python3
"""A webhook receiver for tests/integration/test_notify.sh.

Listens on 127.0.0.1 (a port of the kernel's choosing, written to PORT_FILE)
and appends one JSON line per request to RECORD_FILE: the path, labloop's
headers, the body, and the status it answered (or "none"). What it answers
depends on the path:

  /ok...     200
  /flaky...  500 to the first two requests on that path, then 200
  /hang...   nothing, ever: the request is held open until this process ends

usage: hook_receiver.py PORT_FILE RECORD_FILE
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, record_file = sys.argv[1], sys.argv[2]
lock = threading.Lock()
seen = {}


def record(entry):
    with lock, open(record_file, "a") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):      # quiet: the record file says it all
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with lock:
            seen[self.path] = seen.get(self.path, 0) + 1
            count = seen[self.path]
        if self.path.startswith("/hang"):
            answer = "none"
        elif self.path.startswith("/flaky") and count <= 2:
            answer = 500
        else:
            answer = 200
        record({"path": self.path, "n": count, "answer": answer,
                "event": self.headers.get("X-Labloop-Event"),
                "delivery": self.headers.get("X-Labloop-Delivery"),
                "signature": self.headers.get("X-Labloop-Signature"),
                "content_type": self.headers.get("Content-Type"),
                "raw": raw.decode("utf-8", "replace"), "body": body})
        if answer == "none":
            while True:
                time.sleep(3600)
        self.send_response(answer)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
