"""Group commit for callback intake in the API process.

A provider may be answered 2xx only once its callback is committed: the inbox row is our only
copy. Committing each callback in a transaction of its own spends most of a request on the
transaction (pool checkout, two statements, commit, WAL flush), and under load callbacks arrive
many at a time. So request threads hand their verified callback to one writer thread and wait;
the writer commits everything that arrived meanwhile as one transaction (`inbox.store_many`)
and then releases each waiting request with its own count of new events. A callback that
arrives alone is committed at once: nothing waits for a batch to fill.

If a batch fails, each callback in it is tried again alone, so one callback the database
refuses cannot fail the others; the refused one gets its exception (the API answers 5xx and the
provider retries, as it would for any failed request). A request whose batch has not committed
has not been answered, so a crash of the process loses nothing that was acknowledged.
"""

from __future__ import annotations

import logging
import queue as queue_module
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from gateway.delivery import inbox
from gateway.store.session import Database

log = logging.getLogger("gateway.inbox")

MAX_BATCH = 256  # callbacks per transaction; bounds the statement size (a callback body is at most the request limit)
# A request waits at most this long for its group's commit (the database down or locked): then it
# fails with a 5xx and the provider retries; if the commit does land later, the retry is a duplicate
# (unique on source + external id) and changes nothing.
WAIT_SECONDS = 60


@dataclass
class _Pending:
    arrival: inbox.Arrival
    done: Future = field(default_factory=Future)


class InboxWriter:
    def __init__(self, database: Database, *, max_batch: int = MAX_BATCH) -> None:
        self.database = database
        self.max_batch = max_batch
        self._waiting: queue_module.SimpleQueue[_Pending | None] = queue_module.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def store(self, arrival: inbox.Arrival) -> int:
        """Store one verified callback; returns how many of its events were new, once committed."""
        self._ensure_started()
        pending = _Pending(arrival)
        self._waiting.put(pending)
        return pending.done.result(timeout=WAIT_SECONDS)

    def close(self) -> None:
        if self._thread is not None:
            self._waiting.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _ensure_started(self) -> None:
        # Started on first use, not at construction: `uvicorn --workers` forks after the app is built.
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                    thread.start()
                    self._thread = thread

    def _run(self) -> None:
        while True:
            first = self._waiting.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    pending = self._waiting.get_nowait()
                except queue_module.Empty:
                    break
                if pending is None:
                    self._write(batch)
                    return
                batch.append(pending)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            with self.database.session_scope() as session:
                created = inbox.store_many(session, [pending.arrival for pending in batch])
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request, or retried alone
            if len(batch) == 1:
                batch[0].done.set_exception(exc)
                return
            log.warning("inbox batch of %d failed (%s); storing each alone", len(batch), exc)
            for pending in batch:
                self._write([pending])
            return
        for pending, count in zip(batch, created):
            pending.done.set_result(count)
