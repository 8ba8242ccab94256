#!/usr/bin/env python3
"""tiny-kv: the smallest system faultline can test, the worked example of
docs/systems.md ("Testing your own system").

One primary (the first node in --peers) holds the data and applies every operation
under a lock, writing it to disk before it answers; the other nodes forward requests
to it. It speaks the faultline KV protocol (docs/protocol.md) and is linearizable for
as long as the primary's disk survives, which kill -9 does not change.
"""
import argparse, json, os, threading, urllib.error, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--id", required=True)
ap.add_argument("--listen", required=True)        # ip:port
ap.add_argument("--peers", required=True)         # n1=ip:port,n2=ip:port,...
ap.add_argument("--data-dir", required=True)
args = ap.parse_args()

peers = dict(p.split("=", 1) for p in args.peers.split(","))
primary = sorted(peers)[0]
data_file = os.path.join(args.data_dir, "data.json")
os.makedirs(args.data_dir, exist_ok=True)
data = json.load(open(data_file)) if os.path.exists(data_file) else {}
lock = threading.Lock()


def persist():
    tmp = data_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, data_file)


def apply(method, key, op, body):
    """Runs one operation on the primary: (status, answer)."""
    with lock:
        current = data.get(key)
        if method == "GET" and op is None:
            return 200, {"value": current}
        if method == "PUT" and op is None:
            data[key] = body["value"]
        elif method == "POST" and op == "cas":
            if current != body["from"]:
                return 409, {"error": "cas-mismatch", "definite": True, "value": current}
            data[key] = body["to"]
        elif method == "POST" and op == "append":
            if current is not None and not isinstance(current, list):
                return 400, {"error": "bad-request", "definite": True, "message": "not a list"}
            data[key] = (current or []) + [body["value"]]
        else:
            return 400, {"error": "bad-request", "definite": True}
        persist()
        return 200, {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, status, obj):
        raw = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def handle_any(self, method):
        if self.path == "/health":
            role = "primary" if args.id == primary else "backup"
            return self.answer(200, {"node": args.id, "role": role, "leader": primary, "term": 1})
        parts = self.path.split("/")
        if len(parts) not in (3, 4) or parts[1] != "kv":
            return self.answer(404, {"error": "bad-request", "definite": True})
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if args.id != primary:
            return self.forward(method, raw)
        key = urllib.parse.unquote(parts[2])
        op = parts[3] if len(parts) == 4 else None
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.answer(400, {"error": "bad-request", "definite": True})
        self.answer(*apply(method, key, op, body))

    def forward(self, method, raw):
        url = f"http://{peers[primary]}{self.path}"
        req = urllib.request.Request(url, data=raw or None, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=1) as r:
                return self.answer(r.status, json.loads(r.read()))
        except urllib.error.HTTPError as e:
            return self.answer(e.code, json.loads(e.read()))
        except urllib.error.URLError as e:
            # Refused: the primary never saw it. Anything else: it may have.
            refused = isinstance(e.reason, ConnectionRefusedError)
            return self.answer(503, {"error": "unavailable", "definite": refused})
        except Exception:
            return self.answer(504, {"error": "timeout", "definite": False})

    def do_GET(self):
        self.handle_any("GET")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_POST(self):
        self.handle_any("POST")


host, port = args.listen.rsplit(":", 1)
print(f"tiny-kv {args.id} on {args.listen}, primary {primary}, {len(data)} keys on disk", flush=True)
ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
