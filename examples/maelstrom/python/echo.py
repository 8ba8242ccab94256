#!/usr/bin/env python3
"""Maelstrom echo: answers every echo with the same text."""
from node import Node

node = Node()
node.on("echo", lambda m: node.reply(m, {"type": "echo_ok", "echo": m["body"]["echo"]}))
node.run()
