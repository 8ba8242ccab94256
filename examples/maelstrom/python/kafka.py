#!/usr/bin/env python3
"""Maelstrom kafka: replicated logs with offsets and committed offsets.

Correct: each log is one list in the lin-kv service (key "log:<key>"); a send
appends to it by compare-and-set and its offset is its index, so every node agrees
on every offset and nothing is lost on a kill. A committed offset (key
"commit:<key>") only grows: a commit below it changes nothing. A CAS without an
answer may have happened (code 0); a read that fails is a definite failure.

With --weak: each node keeps its logs and commits in memory, on its own. Clients of
two nodes are handed the same offsets for different messages, and a killed node
hands out its offsets again."""
import sys
import threading

from node import Node, RPCError

weak = "--weak" in sys.argv
node = Node()
PRECONDITION_FAILED = 22
KEY_DOES_NOT_EXIST = 20


def get(key, default):
    try:
        return node.rpc("lin-kv", {"type": "read", "key": key})["value"]
    except RPCError as e:
        if e.code == KEY_DOES_NOT_EXIST:
            return default
        raise


def update(key, default, change):
    """Applies change to key's value by compare-and-set until it sticks; returns
    what change returned alongside the new value."""
    for _ in range(50):
        old = get(key, default)
        new, result = change(old)
        if new == old:
            return result
        try:
            node.rpc("lin-kv", {"type": "cas", "key": key, "from": old, "to": new,
                                "create_if_not_exists": old == default})
            return result
        except RPCError as e:
            if e.code not in (PRECONDITION_FAILED, KEY_DOES_NOT_EXIST):
                raise
    raise RPCError(11, "too much contention")


def send(m):
    b = m["body"]
    try:
        offset = update(f"log:{b['key']}", [], lambda log: (log + [b["msg"]], len(log)))
        node.reply(m, {"type": "send_ok", "offset": offset})
    except (TimeoutError, RPCError) as e:
        node.error(m, 0, f"the send's outcome is unknown: {e}")


def poll(m):
    try:
        msgs = {}
        for key, start in m["body"]["offsets"].items():
            log = get(f"log:{key}", [])
            msgs[key] = [[o, log[o]] for o in range(start, len(log))]
        node.reply(m, {"type": "poll_ok", "msgs": msgs})
    except (TimeoutError, RPCError) as e:
        node.error(m, 11, f"cannot read the logs: {e}")


def commit(m):
    try:
        for key, offset in m["body"]["offsets"].items():
            update(f"commit:{key}", -1, lambda c: (max(c, offset), None))
        node.reply(m, {"type": "commit_offsets_ok"})
    except (TimeoutError, RPCError) as e:
        node.error(m, 0, f"the commit's outcome is unknown: {e}")


def list_committed(m):
    try:
        offsets = {}
        for key in m["body"]["keys"]:
            c = get(f"commit:{key}", -1)
            if c >= 0:
                offsets[key] = c
        node.reply(m, {"type": "list_committed_offsets_ok", "offsets": offsets})
    except (TimeoutError, RPCError) as e:
        node.error(m, 11, f"cannot read the committed offsets: {e}")


lock = threading.Lock()
logs = {}
commits = {}


def send_weak(m):
    b = m["body"]
    with lock:
        log = logs.setdefault(b["key"], [])
        log.append(b["msg"])
        offset = len(log) - 1
    node.reply(m, {"type": "send_ok", "offset": offset})


def poll_weak(m):
    with lock:
        msgs = {k: [[o, logs.get(k, [])[o]] for o in range(s, len(logs.get(k, [])))]
                for k, s in m["body"]["offsets"].items()}
    node.reply(m, {"type": "poll_ok", "msgs": msgs})


def commit_weak(m):
    with lock:
        for k, o in m["body"]["offsets"].items():
            commits[k] = max(commits.get(k, -1), o)
    node.reply(m, {"type": "commit_offsets_ok"})


def list_weak(m):
    with lock:
        offsets = {k: commits[k] for k in m["body"]["keys"] if k in commits}
    node.reply(m, {"type": "list_committed_offsets_ok", "offsets": offsets})


handlers = (send_weak, poll_weak, commit_weak, list_weak) if weak else \
    (send, poll, commit, list_committed)
for kind, handler in zip(("send", "poll", "commit_offsets", "list_committed_offsets"), handlers):
    node.on(kind, handler)
node.run()
