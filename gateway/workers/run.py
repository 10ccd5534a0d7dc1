"""The worker loop: lease a job, commit, run its handler in a task scope, record the outcome."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import traceback
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from gateway.config import Settings
from gateway.errors import RetryableError
from gateway.kit.backoff import backoff_delay
from gateway.kit.time import utc_now
from gateway.store.session import Database
from gateway.workers import periodic, queue
from gateway.channels.registry import ProviderRegistry
from gateway.channels.setup import build_providers
from gateway.workers.registry import HANDLERS, OWN_TRANSACTIONS, Task

log = logging.getLogger("gateway.worker")


def load_handlers() -> None:
    """Import the modules whose handlers the worker runs."""
    import gateway.channels.peppol.reconcile  # noqa: F401
    import gateway.dunning.tasks  # noqa: F401
    import gateway.workers.tasks  # noqa: F401


@contextmanager
def sqlite_worker_lock(database: Database):
    """SQLite allows one writer: one worker process per database file, the others wait here."""
    if not database.is_sqlite:
        yield
        return
    path = Path(database.url.split("///", 1)[1] + ".worker.lock")
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


class Worker:
    def __init__(self, database: Database, settings: Settings, *, name: str | None = None, providers: ProviderRegistry | None = None) -> None:
        load_handlers()
        self.database = database
        self.settings = settings
        # `gateway worker` passes none: the providers come from the settings, as for the demo and the API.
        self.providers = providers if providers is not None else build_providers(settings)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.stopping = threading.Event()
        # Peppol status-poll answers sit in the inbox as source `peppol/poll`; inbox.apply needs their reader.
        from gateway.channels.peppol.reconcile import add_status_poll

        add_status_poll(self.providers)

    def run_once(self) -> bool:
        """Run one due job if there is one; return whether a job ran."""
        now = utc_now()
        with self.database.session_scope() as session:
            job = queue.claim_next(session, self.name, now=now, kinds=sorted(HANDLERS))
            if job is None:
                return False
            job_id, kind, payload, attempts = job.id, job.kind, dict(job.payload), job.attempts
        try:
            if kind in OWN_TRANSACTIONS:
                HANDLERS[kind](Task(None, self.settings, self.database, self.providers), payload, utc_now())
                with self.database.session_scope() as session:
                    queue.complete(session, job_id, now=utc_now())
            else:
                with self.database.session_scope() as session:
                    HANDLERS[kind](Task(session, self.settings, self.database, self.providers), payload, utc_now())
                    queue.complete(session, job_id, now=utc_now())
        except RetryableError as exc:
            self._after_failure(job_id, attempts, f"{type(exc).__name__}: {exc}", retryable=True)
        except Exception as exc:  # noqa: BLE001 - a handler bug must not kill the worker; it is recorded on the job
            log.exception("job %s (%s) failed", job_id, kind)
            self._after_failure(job_id, attempts, "".join(traceback.format_exception_only(exc)).strip(), retryable=False)
        return True

    def _after_failure(self, job_id, attempts: int, error: str, *, retryable: bool) -> None:
        with self.database.session_scope() as session:
            if retryable and attempts < self.settings.max_attempts:
                queue.retry_later(session, job_id, error, now=utc_now(), delay=backoff_delay(self.settings.retry_base_seconds, attempts))
            else:
                queue.fail(session, job_id, error, now=utc_now())

    def sweep(self) -> int:
        """Put back jobs and dispatches left running by a dead worker; queue the periodic jobs that are due."""
        from gateway.delivery import service as delivery

        stale_after = timedelta(seconds=self.settings.worker_stale_after_seconds)
        with self.database.session_scope() as session:
            jobs = queue.requeue_stale(session, now=utc_now(), stale_after=stale_after)
            dispatches = delivery.requeue_stale(session, now=utc_now(), stale_after=stale_after)
        with self.database.session_scope() as session:
            periodic.enqueue_due(session, self.settings, now=utc_now())
        return jobs + dispatches

    def drain(self, limit: int = 100_000) -> int:
        """Run due jobs until none is left (used by the demo and tests); returns how many ran."""
        count = 0
        while count < limit and self.run_once():
            count += 1
        return count

    def run_forever(self) -> None:
        with sqlite_worker_lock(self.database):
            self.sweep()
            while not self.stopping.is_set():
                if not self.run_once():
                    self.sweep()
                    self.stopping.wait(self.settings.worker_poll_seconds)

    def stop(self) -> None:
        self.stopping.set()
