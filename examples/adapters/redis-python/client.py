#!/usr/bin/env python3
"""A faultline client adapter for Redis with Sentinel, with redis-py (Debian's
python3-redis): the primary is found through the sentinels, and a subscription to
each sentinel's +switch-master makes the adapter drop its connections to a demoted
primary as soon as a failover is announced, as Sentinel-aware applications do.

Values are stored as JSON text, as faultline's built-in Redis client stores them, so
the two can be compared on the same seeds (docs/adapters.md).
"""

import json
import sys
import threading
import time

import redis
from redis.sentinel import MasterNotFoundError, Sentinel

CAS = """
local v = redis.call('GET', KEYS[1])
if (v == false and ARGV[1] == '') or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

APPEND = """
local v = redis.call('GET', KEYS[1])
if v == false then
  v = '[' .. ARGV[1] .. ']'
elseif string.sub(v, 1, 1) == '[' and string.sub(v, -1) == ']' then
  v = string.sub(v, 1, -2) .. ',' .. ARGV[1] .. ']'
else
  return redis.error_reply('WRONGVALUE key holds a value that is not a list')
end
redis.call('SET', KEYS[1], v)
return 1
"""

# Refusals that mean the command did not run.
DEFINITE = ("READONLY", "NOREPLICAS", "MASTERDOWN", "LOADING", "BUSY", "WRONGVALUE")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


class Adapter:
    def __init__(self, init):
        s = init["settings"]
        timeout = 0.8 * s.get("timeout_ms", 1000) / 1000.0
        port = s.get("sentinel_port", 26379)
        self.name = s.get("master", "faultline")
        hosts = [(n["host"], port) for n in init["nodes"]]
        self.sentinel = Sentinel(hosts, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.master = self.sentinel.master_for(
            self.name, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.switched = threading.Event()
        for host, p in hosts:
            threading.Thread(target=self.listen, args=(host, p), daemon=True).start()

    def listen(self, host, port):
        """Follows one sentinel's +switch-master announcements, reconnecting as needed."""
        while True:
            try:
                r = redis.Redis(host=host, port=port, socket_connect_timeout=1)
                pubsub = r.pubsub()
                pubsub.subscribe("+switch-master")
                for message in pubsub.listen():
                    if message["type"] == "message":
                        log(f"sentinel {host}: +switch-master {message['data']!r}")
                        self.switched.set()
            except Exception:
                time.sleep(0.5)

    def perform(self, f, key, value):
        if self.switched.is_set():
            # A failover was announced: forget the old primary's connections (no
            # command is in flight here), so the next command asks the sentinels.
            self.switched.clear()
            self.master.connection_pool.disconnect()
        k = str(key)
        if f == "read":
            text = self.master.get(k)
            return {"type": "ok", "value": None if text is None else json.loads(text)}
        if f == "write":
            self.master.set(k, json.dumps(value))
        elif f == "cas":
            expected = "" if value[0] is None else json.dumps(value[0])
            if self.master.eval(CAS, 1, k, expected, json.dumps(value[1])) != 1:
                return {"type": "fail", "error": "cas-mismatch"}
        elif f == "append":
            self.master.eval(APPEND, 1, k, json.dumps(value))
        else:
            return {"type": "fail", "error": f"unsupported f {f!r}"}
        return {"type": "ok"}

    def answer(self, request):
        try:
            return self.perform(request["f"], request["key"], request.get("value"))
        except MasterNotFoundError as e:
            # No sentinel named a primary: nothing was sent.
            return {"type": "fail", "error": f"no-primary: {e}", "unreached": True}
        except redis.exceptions.ResponseError as e:
            code = str(e).split(" ", 1)[0]
            return {"type": "fail" if code in DEFINITE else "info", "error": str(e)}
        except redis.exceptions.TimeoutError as e:
            return {"type": "info", "error": f"timeout: {e}"}
        except redis.exceptions.ConnectionError as e:
            text = str(e)
            # redis-py says "Error 111 connecting to ..." when the connection never opened.
            if "connecting to" in text:
                return {"type": "fail", "error": text, "unreached": True}
            return {"type": "info", "error": text}


def main():
    adapter = None
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if message["type"] == "init":
            adapter = Adapter(message)
            log(f"process {message['process']}: sentinels on {len(message['nodes'])} nodes")
            reply = {"type": "init_ok"}
        else:
            reply = adapter.answer(message)
            reply["id"] = message["id"]
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
