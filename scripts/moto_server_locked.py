"""moto's DynamoDB server, one request at a time.

Runs `moto_server` (same arguments: -H HOST -p PORT) with one lock around each request.
moto's threaded server handles requests concurrently without a lock of its own, and its
TransactWriteItems deep-copies the table to roll back a cancelled transaction: concurrent
writers then fail with "dictionary changed size during iteration" (HTTP 500) or have their
writes undone by another transaction's rollback. DynamoDB itself applies each request
atomically, so the tests need a server that does; this lock gives moto that property without
changing what it answers. Clients still send their requests concurrently.
"""

import sys
import threading

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_lock = threading.Lock()
_call = DomainDispatcherApplication.__call__


def _locked_call(self, environ, start_response):
    with _lock:
        # The whole body is produced inside the lock.
        return list(_call(self, environ, start_response))


DomainDispatcherApplication.__call__ = _locked_call

if __name__ == "__main__":
    server.main(sys.argv[1:])
