#!/usr/bin/env python3
"""Maelstrom txn-list-append and txn-rw-register, one node for both.

Correct: the whole database is one value in the lin-kv service (key "db", a map
from key to list or register). A transaction reads it, applies its micro-ops to a
copy, and installs the copy by compare-and-set from what it read; a lost race
starts over from a fresh read. Every transaction is thus one atomic step of the
lin-kv store: strict serializable, on any number of nodes. A CAS without an answer
may have happened: the transaction's outcome is unknown (code 0). A read-only
transaction installs nothing.

With --weak: the copy is installed by a blind `write`, not a CAS. Two transactions
that read the same database both install their own copy and the first one's writes
vanish: lost updates, which the transactional checker sees as dependency cycles (and,
for lists, reads that disagree on a list's order)."""
import json
import sys

from node import Node, RPCError

weak = "--weak" in sys.argv
node = Node()

DB = "db"
PRECONDITION_FAILED = 22
KEY_DOES_NOT_EXIST = 20


def read_db():
    try:
        return node.rpc("lin-kv", {"type": "read", "key": DB})["value"]
    except RPCError as e:
        if e.code == KEY_DOES_NOT_EXIST:
            return {}
        raise


def apply(db, txn):
    """Applies txn to a copy of db; returns the copy and the answered micro-ops."""
    new = json.loads(json.dumps(db))
    done = []
    for f, k, v in txn:
        key = str(k)
        if f == "r":
            done.append([f, k, new.get(key)])
        elif f == "append":
            new[key] = new.get(key, []) + [v]
            done.append([f, k, v])
        else:  # "w"
            new[key] = v
            done.append([f, k, v])
    return new, done


def install(old, new):
    """True when new replaced old; False when another transaction got there first."""
    if weak:
        node.rpc("lin-kv", {"type": "write", "key": DB, "value": new})
        return True
    try:
        node.rpc("lin-kv", {"type": "cas", "key": DB, "from": old, "to": new,
                            "create_if_not_exists": not old})
        return True
    except RPCError as e:
        if e.code in (PRECONDITION_FAILED, KEY_DOES_NOT_EXIST):
            return False
        raise


def txn(m):
    ops = m["body"]["txn"]
    writes = any(f != "r" for f, _, _ in ops)
    for _ in range(30):
        try:
            old = read_db()
        except (TimeoutError, RPCError) as e:
            # Nothing installed yet: the transaction certainly did not happen.
            node.error(m, 11, f"cannot read the database: {e}")
            return
        new, done = apply(old, ops)
        if not writes:
            node.reply(m, {"type": "txn_ok", "txn": done})
            return
        try:
            if install(old, new):
                node.reply(m, {"type": "txn_ok", "txn": done})
                return
        except (TimeoutError, RPCError) as e:
            node.error(m, 0, f"the install's outcome is unknown: {e}")
            return
    node.error(m, 30, "too much contention")


node.on("txn", txn)
node.run()
