#!/usr/bin/env python3
"""Maelstrom unique-ids. Correct: an id is the node's id, a random 64-bit number drawn
at start, and a counter, so a restarted node (counter back at 0) never repeats one.
With --weak: the node's id and the counter only, which collide after a restart."""
import itertools
import os
import sys

from node import Node

weak = "--weak" in sys.argv
node = Node()
counter = itertools.count(1)
incarnation = os.urandom(8).hex()


def generate(m):
    n = next(counter)
    ident = f"{node.id}-{n}" if weak else f"{node.id}-{incarnation}-{n}"
    node.reply(m, {"type": "generate_ok", "id": ident})


node.on("generate", generate)
node.run()
