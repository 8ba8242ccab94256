#!/usr/bin/env python3
"""A faultline client adapter for systems that speak the faultline KV protocol
(docs/protocol.md), in Python with the standard library only.

faultline starts one of these per logical client process and speaks newline-delimited
JSON with it on stdin/stdout (docs/adapters.md): one `init`, then one `invoke` at a
time, each answered `ok`, `fail` (certainly not applied) or `info` (may have been
applied). Anything on stderr goes to the run's clients/<process>.log.
"""

import http.client
import json
import socket
import sys


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Node:
    """One node's address and a persistent HTTP connection to it."""

    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def request(self, method, path, body):
        """Returns (status, parsed body); raises Unreached when nothing was sent."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.connect()
            except OSError as e:
                # The connection never opened, so the request was never sent.
                self.conn = None
                raise Unreached(f"connect: {e}") from e
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data else {}
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except Exception:
            # The request may have gone out: whatever happened is indeterminate.
            self.conn.close()
            self.conn = None
            raise
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = None
        return response.status, parsed


class Unreached(Exception):
    pass


def perform(node, f, key, value):
    """One operation: the answer's fields besides type and id."""
    path = f"/kv/{key}"
    if f == "read":
        status, body = node.request("GET", path, None)
    elif f == "write":
        status, body = node.request("PUT", path, {"value": value})
    elif f == "cas":
        status, body = node.request("POST", path + "/cas", {"from": value[0], "to": value[1]})
    elif f == "append":
        status, body = node.request("POST", path + "/append", {"value": value})
    else:
        return {"type": "fail", "error": f"unsupported f {f!r}"}
    if status == 200 and isinstance(body, dict):
        answer = {"type": "ok"}
        if f == "read":
            answer["value"] = body.get("value")
        if body.get("version") is not None:
            answer["version"] = body["version"]
        return answer
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        # Only an explicit "definite": true says the operation certainly did not happen.
        kind = "fail" if body.get("definite") is True else "info"
        return {"type": kind, "error": body["error"]}
    return {"type": "info", "error": f"http-{status}"}


def answer(request, nodes):
    node = nodes[request["node"]]
    try:
        return perform(node, request["f"], request["key"], request.get("value"))
    except Unreached as e:
        return {"type": "fail", "error": str(e), "unreached": True}
    except socket.timeout:
        return {"type": "info", "error": "timeout"}
    except Exception as e:  # a reset, a cut-off answer: it may have been applied
        return {"type": "info", "error": f"connection: {e!r}"}


def main():
    nodes = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if message["type"] == "init":
            # Answer before faultline gives up (timeout_ms), so that a slow node is
            # reported as this adapter's own `info`, not as an adapter that hung.
            timeout = 0.8 * message["settings"].get("timeout_ms", 1000) / 1000.0
            nodes = {n["id"]: Node(n["host"], n["port"], timeout) for n in message["nodes"]}
            log(f"process {message['process']}: {len(nodes)} nodes, home {message['node']}")
            reply = {"type": "init_ok"}
        else:
            reply = answer(message, nodes)
            reply["id"] = message["id"]
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
