#!/usr/bin/env python3
"""Maelstrom g-counter.

Correct: the counter lives in the lin-kv service (key "counter"), added to by
compare-and-set; a lost answer from the service is reported as an indefinite error
(code 0), since the add may have happened. A restarted node has lost nothing.

With --weak: each node counts its own adds in memory and tells the others its count
every 200 ms; a node's read is its count plus the last counts it heard. A killed
node restarts at 0 and tells everyone so: its acknowledged adds are gone."""
import sys
import threading

from node import Node, RPCError

weak = "--weak" in sys.argv
node = Node()
lock = threading.Lock()
counts = {}


def add_weak(m):
    with lock:
        counts[node.id] = counts.get(node.id, 0) + m["body"]["delta"]
    node.reply(m, {"type": "add_ok"})


def read_weak(m):
    with lock:
        total = sum(counts.values())
    node.reply(m, {"type": "read_ok", "value": total})


def heard(m):
    with lock:
        counts[m["src"]] = m["body"]["count"]


def tell():
    with lock:
        mine = counts.get(node.id, 0)
    for n in node.others():
        node.send(n, {"type": "count", "count": mine})


def current():
    try:
        return node.rpc("lin-kv", {"type": "read", "key": "counter"})["value"]
    except RPCError as e:
        if e.code == 20:
            return 0
        raise


def add(m):
    delta = m["body"]["delta"]
    try:
        for _ in range(50):
            now = current()
            try:
                node.rpc("lin-kv", {"type": "cas", "key": "counter", "from": now,
                                    "to": now + delta, "create_if_not_exists": True})
                node.reply(m, {"type": "add_ok"})
                return
            except RPCError as e:
                if e.code != 22:
                    raise
        node.error(m, 11, "too much contention")
    except TimeoutError:
        node.error(m, 0, "the counter service did not answer")
    except RPCError as e:
        node.error(m, 0, f"the counter service: {e}")


def read(m):
    try:
        node.reply(m, {"type": "read_ok", "value": current()})
    except (TimeoutError, RPCError) as e:
        node.error(m, 11, f"cannot read the counter: {e}")


if weak:
    node.on("add", add_weak)
    node.on("read", read_weak)
    node.on("count", heard)
    node.after_init(lambda: node.every(0.2, tell))
else:
    node.on("add", add)
    node.on("read", read)
node.run()
