#!/usr/bin/env python3
"""Maelstrom lin-kv: reads, writes and compare-and-sets, passed to the lin-kv
service, whose answers (errors included) go back to the client as they are. An
unanswered request gets an indefinite error (code 0): it may have happened.

With --service seq-kv (or lww-kv): the same, over a weaker service, as a node that
takes seq-kv for linearizable would; its stale reads are caught."""
import sys

from node import Node, RPCError

service = sys.argv[sys.argv.index("--service") + 1] if "--service" in sys.argv else "lin-kv"
node = Node()


def forward(m):
    body = {k: v for k, v in m["body"].items() if k != "msg_id"}
    try:
        answer = node.rpc(service, body)
        answer = {k: v for k, v in answer.items() if k != "in_reply_to"}
        node.reply(m, answer)
    except RPCError as e:
        node.error(m, e.code, str(e))
    except TimeoutError:
        node.error(m, 0, f"the {service} service did not answer")


for kind in ("read", "write", "cas"):
    node.on(kind, forward)
node.run()
