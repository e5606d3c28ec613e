"""Models of the kernel: the base of every record of work that ran, the declaration of a kind of run, and
the log of every run's state changes.

A kind of run (a schema apply, a pipeline run, a check run, a retention execution, a subject request) is a
model that extends `RunRecord` and declares a `RunKind`: which job runs it on which queue, which of its
states mean queued, running, succeeded, failed and cancelled, and the words the reaper writes when a run
was lost. `core.runs` does the rest (request, claim, heartbeat, cancel, finish, reap, retry) for every
kind alike, and writes a `RunEvent` for each state change.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.choices import RunStatus
from core.errors import RecordError

__all__ = ["RunKind", "RunRecord", "RunEvent"]


@dataclass(frozen=True)
class RunKind:
    """What `core.runs` needs to know of one kind of run. Kinds with more states than the lifecycle's five
    (a retention execution can be blocked, a subject request awaits confirmation) name which of theirs
    play the lifecycle's parts in `queued` ... `finished`."""

    job: str = ""  # dotted path of the job function, called with the run's id
    queue: str = "default"
    queued: str = RunStatus.QUEUED
    running: str = RunStatus.RUNNING
    succeeded: str = RunStatus.SUCCEEDED
    failed: str = RunStatus.FAILED
    cancelled: str = RunStatus.CANCELLED
    finished: tuple = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
    # The states a worker may take a run from (a subject request is run again after its dry run).
    claimable: tuple = (RunStatus.QUEUED,)
    # The sentence after "The worker stopped sending heartbeats at ... (killed or lost)." on a lost run.
    lost_note: str = ""
    # Why a queued run that no worker took within `unclaimed_after` failed; None: never reaped while queued.
    unclaimed_note: str = ""
    unclaimed_after: timedelta | None = None
    # Runs recorded before the kind had a heartbeat are lost when running longer than this.
    running_without_heartbeat_after: timedelta | None = None
    # Fields the reaper sets besides status, finished_at and error (what a lost run is known to have done).
    lost_fields: dict = field(default_factory=dict)
    # Fields a cancel before the start sets besides status, finished_at and error.
    cancelled_fields: dict = field(default_factory=dict)

    @property
    def active(self) -> tuple:
        return (self.queued, self.running)


class RunRecord(models.Model):
    """A record of work that ran: written while it runs, then kept as it ended. Once finished it can be
    neither changed nor deleted. Subclasses declare `run_kind`, and `status` with their own choices when
    they have more states than RunStatus."""

    run_kind = RunKind()
    record_name = "Run"

    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    progress = models.FloatField(
        null=True, blank=True, help_text=_("0 to 1 when the size of the work is known.")
    )
    attempt = models.PositiveSmallIntegerField(default=1)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in self.run_kind.finished

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def save(self, *args, **kwargs):
        if not self._state.adding:
            stored = type(self)._base_manager.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored in self.run_kind.finished:
                raise RecordError(f"{self.record_name} #{self.pk} has finished; its record cannot change.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RecordError(
            f"{self.record_name} #{self.pk} is a record of what happened and cannot be deleted."
        )


class RunEvent(models.Model):
    """One state change of one run: from which state to which, when, by whom (a user) or what (the
    worker, the reaper, a command), and why."""

    kind = models.CharField(max_length=100, help_text=_("The run's model, e.g. pipelines.pipelinerun."))
    run_id = models.BigIntegerField()
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30)
    at = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    agent = models.CharField(max_length=30, help_text=_("What made the change: user, worker, reaper ..."))
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["kind", "run_id"], name="core_runevent_run")]
        default_permissions = ("view",)
        verbose_name = _("run event")

    def __str__(self) -> str:
        return f"{self.kind} #{self.run_id}: {self.from_status or 'new'} → {self.to_status}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RecordError(f"Run event #{self.pk} is a record of what happened and cannot change.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RecordError(f"Run event #{self.pk} is a record of what happened and cannot be deleted.")
