"""A heartbeat for running records (every kind of run in core.runs), so that the reaper can tell a run that
is working from one whose worker was killed, and so that a cancel request reaches the worker.

The thread touches the record's `heartbeat_at` every CUSTODIAN_HEARTBEAT_SECONDS from its own database
connection, while the run's own work holds the main thread. A record whose heartbeat is older than
CUSTODIAN_HEARTBEAT_STALE_SECONDS lost its worker (`heartbeat_stale_before`). Each beat also reads the
record's `cancel_requested`: once set, `cancelled` is set and `on_cancel` (if any) is called from the
heartbeat's thread, e.g. to cancel the statement the worker is waiting on.
"""

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.choices import RunStatus

__all__ = ["Heartbeat", "heartbeat_stale_before", "heartbeat_lost"]

logger = logging.getLogger(__name__)


def heartbeat_stale_before(now: datetime | None = None) -> datetime:
    """Running records whose heartbeat is older than this lost their worker."""
    return (now or timezone.now()) - timedelta(seconds=settings.CUSTODIAN_HEARTBEAT_STALE_SECONDS)


def heartbeat_lost(heartbeat_at: datetime | None) -> str:
    """The first sentence of a lost run's error."""
    if heartbeat_at is None:
        return "The worker stopped without reporting (killed or lost)."
    seen = timezone.localtime(heartbeat_at).strftime("%Y-%m-%d %H:%M:%S")
    return f"The worker stopped sending heartbeats at {seen} (killed or lost)."


class Heartbeat(threading.Thread):
    """`with Heartbeat(Model, pk):` keeps the running record's heartbeat_at fresh until the block ends, and
    passes on a cancel request (`cancelled`, `on_cancel`)."""

    def __init__(self, model, pk: int, interval: float | None = None, on_cancel=None):
        super().__init__(name=f"heartbeat-{model._meta.label_lower}-{pk}", daemon=True)
        self.model = model
        self.pk = pk
        self.interval = interval if interval is not None else settings.CUSTODIAN_HEARTBEAT_SECONDS
        self.stop = threading.Event()
        self.cancelled = threading.Event()
        self.on_cancel = on_cancel

    def beat(self) -> None:
        running = getattr(getattr(self.model, "run_kind", None), "running", RunStatus.RUNNING)
        records = self.model._base_manager.filter(pk=self.pk, status=running)
        records.update(heartbeat_at=timezone.now())
        if not self.cancelled.is_set() and records.filter(cancel_requested=True).exists():
            self.cancelled.set()
            if self.on_cancel is not None:
                self.on_cancel()

    def run(self):
        try:
            while not self.stop.wait(self.interval):
                try:
                    self.beat()
                except Exception:  # the main thread finds out about a lost database itself
                    logger.exception("Heartbeat of %s #%s failed", self.model._meta.label, self.pk)
        finally:
            connection.close()

    def __enter__(self):
        # A record this transaction has not committed is invisible to the heartbeat's own connection (whose
        # UPDATE would wait for the commit), and a lost process leaves nothing of it behind: no beat needed.
        if not connection.in_atomic_block:
            self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        if self.is_alive():
            self.join(timeout=10)
        return False
