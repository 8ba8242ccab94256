#!/usr/bin/env python3
"""Maelstrom broadcast.

Correct: a broadcast is acknowledged once a majority of nodes hold the message
(sent again every 200 ms until they answer), and every node sends its whole set to
every other node every half second (anti-entropy), so a message crosses a healed
partition and a restarted node (which lost everything) learns it all again.

With --weak: acknowledge at once and tell each topology neighbour once, never again:
a message sent into a partition, or to a node being killed, is lost."""
import sys
import threading
import time

from node import Node

weak = "--weak" in sys.argv
node = Node()
lock = threading.Lock()
messages = set()
neighbours = []


def topology(m):
    global neighbours
    neighbours = m["body"]["topology"].get(node.id, [])
    node.reply(m, {"type": "topology_ok"})


def read(m):
    with lock:
        seen = sorted(messages)
    node.reply(m, {"type": "read_ok", "messages": seen})


def add(values):
    with lock:
        new = [v for v in values if v not in messages]
        messages.update(new)
    return new


def broadcast(m):
    value = m["body"]["message"]
    add([value])
    if weak:
        node.reply(m, {"type": "broadcast_ok"})
        for n in neighbours:
            node.send(n, {"type": "gossip", "messages": [value]})
        return
    holders = {node.id}
    pending = set(node.others())
    deadline = time.time() + 2.0
    while len(holders) * 2 <= len(node.ids) and time.time() < deadline:
        for n in list(pending):
            try:
                node.rpc(n, {"type": "replicate", "messages": [value]}, timeout=0.2)
                holders.add(n)
                pending.discard(n)
            except (TimeoutError, Exception):
                pass
            if len(holders) * 2 > len(node.ids):
                break
    if len(holders) * 2 > len(node.ids):
        node.reply(m, {"type": "broadcast_ok"})
    else:
        # Held by too few nodes to survive a crash: maybe kept, maybe not.
        node.error(m, 0, "not replicated to a majority in time")


def gossip(m):
    new = add(m["body"]["messages"])
    if weak and new:
        for n in neighbours:
            if n != m["src"]:
                node.send(n, {"type": "gossip", "messages": new})


def replicate(m):
    add(m["body"]["messages"])
    node.reply(m, {"type": "replicate_ok"})


def anti_entropy():
    with lock:
        everything = sorted(messages)
    if everything:
        for n in node.others():
            node.send(n, {"type": "gossip", "messages": everything})


node.on("topology", topology)
node.on("read", read)
node.on("broadcast", broadcast)
node.on("gossip", gossip)
node.on("replicate", replicate)
if not weak:
    node.after_init(lambda: node.every(0.5, anti_entropy))
node.run()
