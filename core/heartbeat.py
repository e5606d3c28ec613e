"""A heartbeat for running records (schema applies, pipeline runs, check runs), so that a reaper can tell a
run that is working from one whose worker was killed.

The thread touches the record's `heartbeat_at` every CUSTODIAN_HEARTBEAT_SECONDS from its own database
connection, while the run's own work holds the main thread. A record whose heartbeat is older than
CUSTODIAN_HEARTBEAT_STALE_SECONDS lost its worker (`heartbeat_stale_before`).
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
    """`with Heartbeat(Model, pk):` keeps the running record's heartbeat_at fresh until the block ends.

    Subclasses extend `beat()` (pipelines also pass on cancel requests there)."""

    def __init__(self, model, pk: int, interval: float | None = None):
        super().__init__(name=f"heartbeat-{model._meta.label_lower}-{pk}", daemon=True)
        self.model = model
        self.pk = pk
        self.interval = interval if interval is not None else settings.CUSTODIAN_HEARTBEAT_SECONDS
        self.stop = threading.Event()

    def beat(self) -> None:
        self.model._base_manager.filter(pk=self.pk, status=RunStatus.RUNNING).update(
            heartbeat_at=timezone.now()
        )

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
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.join(timeout=10)
        return False
