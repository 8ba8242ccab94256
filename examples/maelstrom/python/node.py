"""A small Maelstrom node library (standard library only): JSON messages on stdin and
stdout, one handler per message type, replies, and RPCs with a blocking wait.

Handlers run on a thread each, so a handler may wait for an RPC's answer while the
reader thread keeps reading (and delivers that answer)."""

import itertools
import json
import sys
import threading


class RPCError(Exception):
    def __init__(self, code, text=""):
        super().__init__(f"error {code}: {text}")
        self.code = code


class Node:
    def __init__(self):
        self.id = None
        self.ids = []
        self.handlers = {}
        self.waiting = {}
        self.lock = threading.Lock()
        self.out = threading.Lock()
        self.msg_ids = itertools.count(1)
        self.on("init", self._init)
        self.started = []

    def on(self, kind, handler):
        self.handlers[kind] = handler

    def after_init(self, f):
        """Runs f once the node knows its id."""
        self.started.append(f)

    def _init(self, msg):
        self.id = msg["body"]["node_id"]
        self.ids = msg["body"]["node_ids"]
        self.reply(msg, {"type": "init_ok"})
        for f in self.started:
            f()

    def others(self):
        return [n for n in self.ids if n != self.id]

    def send(self, dest, body):
        line = json.dumps({"src": self.id, "dest": dest, "body": body})
        with self.out:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def reply(self, msg, body):
        body = dict(body)
        body["in_reply_to"] = msg["body"].get("msg_id")
        self.send(msg["src"], body)

    def error(self, msg, code, text):
        self.reply(msg, {"type": "error", "code": code, "text": text})

    def rpc(self, dest, body, timeout=1.0):
        """Sends body and waits for the answer; raises RPCError on an error answer
        and TimeoutError when none comes."""
        mid = next(self.msg_ids)
        done = threading.Event()
        box = {}
        with self.lock:
            self.waiting[mid] = (done, box)
        self.send(dest, dict(body, msg_id=mid))
        if not done.wait(timeout):
            with self.lock:
                self.waiting.pop(mid, None)
            raise TimeoutError(f"no answer from {dest}")
        answer = box["body"]
        if answer.get("type") == "error":
            raise RPCError(answer.get("code"), answer.get("text", ""))
        return answer

    def every(self, seconds, f):
        """Runs f every `seconds` in a thread of its own."""
        def loop():
            stop = threading.Event()
            while not stop.wait(seconds):
                try:
                    f()
                except Exception as e:  # a periodic task must not die
                    print(f"periodic task: {e}", file=sys.stderr)
        threading.Thread(target=loop, daemon=True).start()

    def run(self):
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            msg = json.loads(line)
            body = msg["body"]
            answered = body.get("in_reply_to")
            if answered is not None:
                with self.lock:
                    w = self.waiting.pop(answered, None)
                if w is not None:
                    w[1]["body"] = body
                    w[0].set()
                continue
            handler = self.handlers.get(body.get("type"))
            if handler is None:
                self.error(msg, 10, f"unsupported message type {body.get('type')}")
            elif body.get("type") == "init":
                handler(msg)
            else:
                threading.Thread(target=handler, args=(msg,), daemon=True).start()
