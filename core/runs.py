"""The one run lifecycle every kind of run uses: request -> claim -> heartbeat (progress, cancel) -> finish,
with the reaper for runs whose worker was lost and retries of transient failures.

A kind of run is a model extending `core.models.RunRecord` with a `run_kind` (core.models.RunKind). Every
state change is one conditional UPDATE (so a second claim, or a finish after the reaper, loses to whoever
changed the run first) and is logged as a `RunEvent`: from, to, when, by whom or what, and why.

    run = run_request(PipelineRun(pipeline=..., ...), user=user)      # saved, queued after commit
    run = run_claim(PipelineRun, run_id)                               # in the job; None if not queued
    with run_heartbeat(run, on_cancel=...) as heartbeat: ...           # heartbeat.cancelled once asked
    run_progress(run, progress=0.5, rows_loaded=...)                  # also beats
    run_finish(run, RunStatus.SUCCEEDED, rows_loaded=...)
    runs_reap()                                                        # each scheduler tick: every kind
"""

import logging
from collections.abc import Callable
from datetime import datetime

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.heartbeat import Heartbeat, heartbeat_lost, heartbeat_stale_before
from core.jobs import job_enqueue
from core.models import RunEvent, RunRecord

__all__ = [
    "run_kinds",
    "run_job_id",
    "run_request",
    "run_enqueue",
    "run_claim",
    "run_heartbeat",
    "run_progress",
    "run_move",
    "run_finish",
    "run_cancel",
    "run_retry_delay",
    "run_retry_decide",
    "runs_reap",
]

logger = logging.getLogger(__name__)


def run_kinds() -> list[type[RunRecord]]:
    """Every installed kind of run (concrete models extending RunRecord)."""
    return [model for model in apps.get_models() if issubclass(model, RunRecord)]


def run_job_id(run: RunRecord) -> str:
    """The RQ job id of a run, so that a cancel can find its job: custodian-<model>-<id>."""
    return f"custodian-{run._meta.model_name}-{run.pk}"


def _actor(user) -> tuple:
    """(user or None, agent word) for a RunEvent."""
    if user is None or isinstance(user, str):
        return None, user or "worker"
    if not getattr(user, "is_authenticated", False):
        return None, "user"
    return user, "user"


def _event(run: RunRecord, from_status: str, to_status: str, *, by=None, note: str = "", at=None) -> None:
    user, agent = _actor(by)
    RunEvent.objects.create(
        kind=run._meta.label_lower,
        run_id=run.pk,
        from_status=from_status,
        to_status=to_status,
        at=at or timezone.now(),
        user=user,
        agent=agent,
        note=note[:2000],
    )


def run_request(
    run: RunRecord, *, user=None, enqueue: bool = True, delay_seconds: float = 0, note: str = ""
) -> RunRecord:
    """Save an unsaved run in its queued state, log it, and (with `enqueue`) queue its kind's job after
    the transaction commits. An IntegrityError of the kind's constraints (one active run ...) reaches the
    caller with nothing saved."""
    with transaction.atomic():
        run.save()
        _event(run, "", run.status, by=user if user is not None else "request", note=note)
    if enqueue:
        run_enqueue(run, delay_seconds=delay_seconds)
    return run


def run_enqueue(run: RunRecord, *, delay_seconds: float = 0) -> None:
    """Queue the kind's job for a saved run (after commit)."""
    kind = run.run_kind
    job_enqueue(kind.queue, kind.job, run.pk, job_id=run_job_id(run), delay_seconds=delay_seconds)


def run_claim(
    model: type[RunRecord], pk: int, *, by="worker", related: tuple = (), **fields
) -> RunRecord | None:
    """Take a run for this worker: QUEUED (or another claimable state) -> RUNNING in one conditional UPDATE,
    with started_at (kept when it ran before) and a fresh heartbeat. None when it was cancelled or taken
    first; a queued run whose cancel was asked is recorded cancelled here. `related` is passed to
    select_related when the run is loaded."""
    kind = model.run_kind
    now = timezone.now()
    if len(kind.claimable) == 1:
        before = kind.claimable[0]
    else:
        before = model._base_manager.filter(pk=pk).values_list("status", flat=True).first()
    claimed = model._base_manager.filter(pk=pk, status__in=kind.claimable, cancel_requested=False).update(
        status=kind.running, started_at=Coalesce(F("started_at"), Value(now)), heartbeat_at=now, **fields
    )
    run = model._base_manager.select_related(*related).get(pk=pk)
    if not claimed:
        if run.status == kind.queued and run.cancel_requested:
            run_finish(
                run, kind.cancelled, by=by, error="Cancelled before it started.", **kind.cancelled_fields
            )
        return None
    _event(run, before, kind.running, by=by, at=now)
    return run


def run_heartbeat(run: RunRecord, *, on_cancel: Callable[[], None] | None = None) -> Heartbeat:
    """`with run_heartbeat(run) as heartbeat:` beats until the block ends; `heartbeat.cancelled` is set
    (and `on_cancel` called from the heartbeat's thread) once someone asks the run to stop."""
    return Heartbeat(type(run), run.pk, on_cancel=on_cancel)


def run_progress(run: RunRecord, **fields) -> None:
    """Record what a running run has done so far (progress 0..1, counts, phase) and beat its heartbeat."""
    fields.setdefault("heartbeat_at", timezone.now())
    for name, value in fields.items():
        setattr(run, name, value)
    type(run)._base_manager.filter(pk=run.pk, status=run.run_kind.running).update(**fields)


def run_move(run: RunRecord, status: str, *, by="worker", note: str = "", **fields) -> bool:
    """Move an unfinished run from the state it has in memory to `status` with `fields`, in one conditional
    UPDATE (finished_at is set for a finished state), and log it; False, and nothing written, when the run
    was moved by someone else first (a reaper, a cancel). `run` is reloaded either way."""
    kind = run.run_kind
    now = timezone.now()
    if status in kind.finished:
        fields.setdefault("finished_at", now)
    before = run.status
    moved = (
        type(run)
        ._base_manager.filter(pk=run.pk, status=before)
        .exclude(status__in=kind.finished)
        .update(status=status, **fields)
    )
    if moved:
        _event(run, before, status, by=by, note=note, at=now)
    run.refresh_from_db()
    return bool(moved)


def run_finish(run: RunRecord, status: str, *, by="worker", note: str = "", **fields) -> bool:
    """Record how a run ended (a finished state of its kind) with its outcome fields; see run_move."""
    if status not in run.run_kind.finished:
        raise ValueError(f"{status!r} is no finished state of {run._meta.label}.")
    return run_move(run, status, by=by, note=note, **fields)


def run_cancel(run: RunRecord, *, user=None, error: str = "Cancelled before it started.") -> bool:
    """Cancel a queued run at once (True), or ask a running one to stop at its next heartbeat (False)."""
    kind = run.run_kind
    run.refresh_from_db()
    if run.status == kind.queued and run_finish(
        run, kind.cancelled, by=user, cancel_requested=True, error=error, **kind.cancelled_fields
    ):
        _rq_cancel(run, kind.queue)
        return True
    type(run)._base_manager.filter(pk=run.pk, status=kind.running).update(cancel_requested=True)
    if run.status == kind.running:
        _event(run, kind.running, kind.running, by=user, note="Asked to stop.")
    run.refresh_from_db()
    return False


def _rq_cancel(run: RunRecord, queue: str) -> None:
    if settings.CUSTODIAN_JOBS_SYNC:
        return
    try:
        import django_rq
        from rq.job import Job

        Job.fetch(run_job_id(run), connection=django_rq.get_connection(queue)).cancel()
    except Exception:  # the job may be gone already; the run record is what counts
        logger.info("No RQ job %s to cancel", run_job_id(run))


def run_retry_delay(attempt: int) -> float:
    """Backoff before retry number `attempt` (1, 2, ...): base x 3^(attempt-1), at most ten minutes."""
    base = float(getattr(settings, "CUSTODIAN_RETRY_BASE_SECONDS", 10))
    return min(base * 3 ** (attempt - 1), 600.0)


def run_retry_decide(run: RunRecord, message: str, *, max_retries: int) -> tuple[str, float | None]:
    """For a run that met a transient failure (a lost connection): the error to record, and the backoff
    before the next attempt, or None when `max_retries` retries were used. The kind records the failure
    and requests the next attempt (with attempt + 1)."""
    if run.attempt - 1 >= max_retries:
        return f"{message}. Nothing was loaded; gave up after {run.attempt} attempts.", None
    delay = run_retry_delay(run.attempt)
    # In-process jobs have no scheduler: the retry starts at once rather than after the backoff.
    when = "now" if settings.CUSTODIAN_JOBS_SYNC else f"in {delay:g} s"
    attempts = f"attempt {run.attempt + 1} of {max_retries + 1}"
    return f"{message}. Nothing was loaded; retrying {when} ({attempts}).", delay


def _lost(model: type[RunRecord], now: datetime, stale_before: datetime, filters: dict):
    kind = model.run_kind
    lost = Q(status=kind.running, heartbeat_at__lt=stale_before)
    if kind.running_without_heartbeat_after is not None:
        lost |= Q(
            status=kind.running,
            heartbeat_at__isnull=True,
            started_at__lt=now - kind.running_without_heartbeat_after,
        )
    if kind.unclaimed_after is not None:
        lost |= Q(status=kind.queued, created_at__lt=now - kind.unclaimed_after)
    return model._base_manager.filter(lost, **filters).only("pk", "status", "heartbeat_at")


def runs_reap(*, now: datetime | None = None, kinds=None, **filters) -> int:
    """Fail the runs of every kind (or of `kinds`) whose worker was lost: running with a heartbeat older
    than CUSTODIAN_HEARTBEAT_STALE_SECONDS, or queued longer than the kind lets a run wait; how many.
    `filters` narrow it (pipeline=..., datastore=...). The scheduler tick calls it every minute."""
    now = now or timezone.now()
    stale_before = heartbeat_stale_before(now)
    count = 0
    for model in kinds or run_kinds():
        kind = model.run_kind
        for run in _lost(model, now, stale_before, filters):
            if run.status == kind.running:
                error = f"{heartbeat_lost(run.heartbeat_at)} {kind.lost_note}".strip()
                match = Q(status=kind.running, heartbeat_at=run.heartbeat_at)
                note = "Its worker was lost: no heartbeat within the stale window."
            else:
                error, match = kind.unclaimed_note, Q(status=kind.queued)
                note = "No worker took it in time."
            moved = model._base_manager.filter(match, pk=run.pk).update(
                status=kind.failed, finished_at=now, error=error, **kind.lost_fields
            )
            if moved:
                _event(run, run.status, kind.failed, by="reaper", note=note, at=now)
            count += moved
    return count
