#!/usr/bin/env python3
# A client adapter that keeps its own in-memory store (no node needed) and misbehaves,
# as the MISBEHAVE environment variable says, on every operation on key 1:
# hang, exit, garbage, wrong-id, list (a list read on a register), refuse (init),
# refuse-again (exit on key 1, and every adapter but the first refuses init).
# With MISBEHAVE=rotate it misbehaves on its 5th operation, in one of the first four
# ways, each in turn over all the adapters of a run.
import json, os, sys, time

mode = os.environ.get("MISBEHAVE", "none")
store = {}
count = 0
process = 0
sys.stderr.write(f"pid {os.getpid()}\n"); sys.stderr.flush()
pids = os.environ.get("PID_DIR")
if pids:
    open(os.path.join(pids, str(os.getpid())), "w").close()

def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()

for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "init":
        process = m["process"]
        # refuse-again: the first adapter of a test starts; every later one refuses.
        again = mode == "refuse-again" and len(os.listdir(pids)) > 1
        if mode == "refuse" or again:
            send({"type": "error", "error": "cannot reach the cluster: no credentials"})
        else:
            send({"type": "init_ok"})
        continue
    count += 1
    keys = [mop[1] for mop in m["value"]] if m["f"] == "txn" else [m["key"]]
    how = mode if 1 in keys else "none"
    if mode == "refuse-again" and 1 in keys:
        how = "exit"
    if mode == "rotate":
        if count % 5 == 0:
            # Every adapter of the run takes the next way in turn: a one-byte append
            # to a shared file is atomic, so its size counts the misbehaviours.
            with open(os.path.join(pids, "turns"), "ab") as t:
                t.write(b"x")
                t.flush()
                turn = t.tell()
            how = ["hang", "exit", "garbage", "wrong-id"][turn % 4]
    if how == "hang":
        time.sleep(60)
    if how == "exit":
        sys.exit(3)
    if how == "garbage":
        sys.stdout.write("Traceback (most recent call last): oops\n"); sys.stdout.flush()
        continue
    if how == "wrong-id":
        send({"type": "ok", "id": m["id"] + 1, "value": None})
        continue
    if m["f"] == "txn":
        # Micro-ops one after the other on the store (lists for appends, integers
        # for writes); "list" answers every read with [1, 2].
        done = []
        for f, k, v in m["value"]:
            if f == "append":
                store.setdefault(str(k), []).append(v)
            elif f == "w":
                store[str(k)] = v
            else:
                v = [1, 2] if how == "list" else store.get(str(k))
            done.append([f, k, v])
        send({"type": "ok", "id": m["id"], "value": done})
        continue
    f, k, v = m["f"], str(m["key"]), m.get("value")
    if f == "read":
        send({"type": "ok", "id": m["id"], "value": [1, 2] if how == "list" else store.get(k)})
    elif f == "write":
        store[k] = v; send({"type": "ok", "id": m["id"]})
    elif f == "cas":
        if store.get(k) == v[0]:
            store[k] = v[1]; send({"type": "ok", "id": m["id"]})
        else:
            send({"type": "fail", "id": m["id"], "error": "cas-mismatch"})
    elif f == "append":
        store.setdefault(k, []).append(v); send({"type": "ok", "id": m["id"]})
