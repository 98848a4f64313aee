"""moto's DynamoDB server, one request at a time, with cheap transaction snapshots.

Runs `moto_server` (same arguments: -H HOST -p PORT) with two changes, both found by the
conformance suite's concurrent tests and neither changing what moto answers:

1. One lock around each request. moto's threaded server handles requests concurrently
   without a lock of its own, and its TransactWriteItems deep-copies the table to roll back
   a cancelled transaction: concurrent writers then fail with "dictionary changed size
   during iteration" (HTTP 500) or have their writes undone by another transaction's
   rollback. DynamoDB applies each request atomically; the lock gives moto that property.
   Clients still send their requests concurrently (they queue here, as at a busy server).
2. The rollback snapshot of a transaction copies only the items the transaction names
   instead of the whole table. moto 5.2.5 deep-copies the table on every TransactWriteItems,
   which made a transaction on a 1,000-item table take ~60 ms and grew the server past
   20 GB of memory over the suite. Under the lock nothing else changes the table meanwhile,
   so restoring the named items is the same rollback.
"""

import copy as _copy
import sys
import threading
import types
from collections import defaultdict

from moto import server
from moto.dynamodb import models as _ddb
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_lock = threading.Lock()
_call = DomainDispatcherApplication.__call__


def _locked_call(self, environ, start_response):
    with _lock:
        # The whole body is produced inside the lock.
        return list(_call(self, environ, start_response))


DomainDispatcherApplication.__call__ = _locked_call

# Keys named by the transaction being applied, per table: [(hash, range)].
_touched = []
_transact = _ddb.DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    keys = {}
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        if table is None or table.range_key_attr is None:
            continue
        attrs = op["Item"] if "Item" in op else op.get("Key", {})
        h, r = attrs.get(table.hash_key_attr), attrs.get(table.range_key_attr)
        if h is not None and r is not None:
            keys.setdefault(table.name, []).append((DynamoType(h), DynamoType(r)))
    _touched.append(keys)
    try:
        return _transact(self, transact_items)
    finally:
        _touched.pop()


def _snapshot(table):
    keys = _touched[-1].get(table.name) if _touched else None
    if keys is None or table.range_key_attr is None:
        return _copy.deepcopy(table)
    snap = _copy.copy(table)
    # Partitions the transaction does not name are shared: nothing changes them meanwhile.
    snap.items = defaultdict(dict, table.items)
    copied = set()
    for h, _ in keys:
        if h not in copied:
            copied.add(h)
            snap.items[h] = dict(table.items.get(h, {}))
    for h, r in keys:
        if r in snap.items[h]:
            snap.items[h][r] = _copy.deepcopy(snap.items[h][r])
    return snap


def _deepcopy(obj, memo=None):
    if isinstance(obj, Table):
        return _snapshot(obj)
    return _copy.deepcopy(obj, memo)


_ddb.copy = types.SimpleNamespace(deepcopy=_deepcopy, copy=_copy.copy)
_ddb.DynamoDBBackend.transact_write_items = _transact_write_items

if __name__ == "__main__":
    server.main(sys.argv[1:])
