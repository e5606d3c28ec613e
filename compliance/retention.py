"""Retention enforcement: request an execution (or dry run) of a policy, run it, and the daily schedule.

Every execution, dry runs included, is a RetentionExecution record, a kind of run (core.runs): queued,
then running (with a heartbeat), then succeeded, failed (nothing changed: the data store's transaction was
rolled back) or blocked (legal hold). Admin
actions, the command and the scheduled job all call these services.
"""

import logging
import time
import traceback
from datetime import datetime, timedelta

from croniter import croniter
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import RetentionPolicy
from compliance.choices import ExecutionStatus, ExecutionTrigger
from compliance.enforcement import retention_apply
from compliance.exceptions import ComplianceError, RetentionBusy
from compliance.models import RetentionExecution, RetentionSweep
from compliance.store import database_problem, store_session, timed
from core.errors import SchemaError
from core.runs import run_claim, run_finish, run_heartbeat, run_request

__all__ = [
    "retention_cutoff",
    "retention_hold_reason",
    "retention_execution_request",
    "retention_execution_run",
    "retention_enforce",
    "retention_tick",
    "RETENTION_CATCH_UP",
]

logger = logging.getLogger(__name__)

# A slot missed by less than this (downtime around 02:00) still runs; older slots wait for the next one,
# so the first tick after installing does not enforce at once.
RETENTION_CATCH_UP = timedelta(hours=6)


def retention_cutoff(policy: RetentionPolicy, now: datetime) -> datetime:
    """The moment before which a row's anchor is past the policy's period."""
    return now - relativedelta(**{policy.keep_unit: policy.keep_for})


def retention_hold_reason(policy: RetentionPolicy) -> str:
    """Why the policy may not be enforced now ('' when it may)."""
    if policy.legal_hold:
        return f"Retention policy '{policy.name}' is on legal hold; nothing is enforced until it is lifted."
    if policy.entity.legal_hold:
        return (
            f"Entity {policy.entity.name} is on legal hold; policy '{policy.name}' is not enforced until the "
            "hold is lifted."
        )
    return ""


def _snapshot(policy: RetentionPolicy) -> dict:
    return {
        "entity": policy.entity.name,
        "anchor_column": policy.anchor_column.name,
        "keep_for": policy.keep_for,
        "keep_unit": policy.keep_unit,
        "action": policy.action,
        "regulation": policy.regulation.code if policy.regulation_id else "",
        "legal_basis": policy.legal_basis,
        "legal_hold": policy.legal_hold,
        "entity_legal_hold": policy.entity.legal_hold,
    }


def _policy_fields(policy: RetentionPolicy) -> dict:
    return {
        "policy_version": policy.version,
        "policy_name": policy.name,
        "datastore_name": policy.entity.datastore.name,
        "entity_name": policy.entity.name,
        "policy_snapshot": _snapshot(policy),
        "action": policy.action,
    }


def retention_execution_request(
    *,
    policy: RetentionPolicy,
    dry_run: bool = False,
    trigger: str = ExecutionTrigger.MANUAL,
    user=None,
    sweep: RetentionSweep | None = None,
    enqueue: bool = True,
) -> RetentionExecution:
    """Record a queued execution of the policy and (unless `enqueue` is False) queue its job; RetentionBusy
    when the policy already has one queued or running."""

    execution = RetentionExecution(
        policy=policy,
        dry_run=dry_run,
        trigger=trigger,
        requested_by=user if user is not None and user.is_authenticated else None,
        sweep=sweep,
        **_policy_fields(policy),
    )
    execution.full_clean(validate_constraints=False)  # the database says "busy", race-free
    try:
        return run_request(execution, user=execution.requested_by or trigger, enqueue=enqueue)
    except IntegrityError:
        raise RetentionBusy(
            f"Retention policy '{policy.name}' of {policy.entity.name} already has an execution queued or "
            "running; wait for it to finish."
        ) from None


def _finish(execution: RetentionExecution, status: str, **fields) -> RetentionExecution:
    run_finish(execution, status, **fields)
    return execution


def retention_execution_run(execution_id: int) -> RetentionExecution:
    """Carry out a queued execution: blocked by a legal hold, else enforced (or dry-run) in one transaction
    on the data store. The record says what happened to how many rows of which table."""
    execution = RetentionExecution.objects.select_related("policy__entity__datastore").get(pk=execution_id)
    if execution.is_finished:
        return execution
    policy = execution.policy
    if policy is None:
        return _finish(
            execution, ExecutionStatus.FAILED, error="The policy was deleted before the execution ran."
        )
    policy = RetentionPolicy.objects.select_related("entity__datastore", "anchor_column", "regulation").get(
        pk=policy.pk
    )
    cutoff = retention_cutoff(policy, timezone.now())
    claimed = run_claim(RetentionExecution, execution.pk, cutoff=cutoff, **_policy_fields(policy))
    if claimed is None:  # taken by another worker first
        execution.refresh_from_db()
        return execution
    hold = retention_hold_reason(policy)
    if hold:
        return _finish(claimed, ExecutionStatus.BLOCKED, error=hold)
    return _enforce(claimed, policy, cutoff)


def _enforce(execution: RetentionExecution, policy: RetentionPolicy, cutoff: datetime) -> RetentionExecution:
    timings: dict = {}
    statements: list[str] = []
    started = time.monotonic()
    try:
        with (
            run_heartbeat(execution),
            store_session(
                policy.entity.datastore, commit=not execution.dry_run, purpose=f"retention #{execution.pk}"
            ) as session,
        ):
            try:
                with timed(timings, "dry_run" if execution.dry_run else "enforce"):
                    outcome = retention_apply(session, policy, cutoff=cutoff, dry_run=execution.dry_run)
            finally:
                statements = session.statements
    except ComplianceError as exc:
        return _finish(execution, ExecutionStatus.FAILED, error=exc.message, statements=statements)
    except SchemaError as exc:
        return _finish(execution, ExecutionStatus.FAILED, error=exc.message, statements=statements)
    except Exception as exc:
        logger.exception("Retention execution #%s failed", execution.pk)
        error = (
            f"The data store refused it: {database_problem(exc)}. The transaction was rolled back; nothing "
            f"was changed.\n\n{traceback.format_exc()}"
        )
        return _finish(execution, ExecutionStatus.FAILED, error=error, statements=statements)
    timings["total"] = round(time.monotonic() - started, 4)
    return _finish(
        execution,
        ExecutionStatus.SUCCEEDED,
        rows_expired=outcome.rows_expired,
        rows_by_table=[effect.as_dict() for effect in outcome.effects],
        samples=outcome.samples,
        statements=statements,
        timings=timings,
    )


def retention_enforce(
    *, policy: RetentionPolicy, dry_run: bool = False, trigger: str = ExecutionTrigger.COMMAND, user=None
) -> RetentionExecution:
    """Enforce (or dry-run) the policy now, in this process; returns the finished record."""
    execution = retention_execution_request(
        policy=policy, dry_run=dry_run, trigger=trigger, user=user, enqueue=False
    )
    return retention_execution_run(execution.pk)


def retention_tick(*, now=None) -> list[RetentionExecution]:
    """Queue one execution of every policy per slot of settings.CUSTODIAN_RETENTION_CRON (daily at 02:00
    UTC by default), however many ticks see the slot; returns the executions queued. The scheduler tick
    calls it each minute, after reaping lost runs."""
    now = now or timezone.now()
    cron = getattr(settings, "CUSTODIAN_RETENTION_CRON", "0 2 * * *")
    # The slot at or before now: croniter's get_prev is strictly before its start.
    slot = croniter(cron, now + timedelta(seconds=1)).get_prev(datetime)
    if now - slot > RETENTION_CATCH_UP:
        return []
    try:
        with transaction.atomic():
            sweep, created = RetentionSweep.objects.get_or_create(slot=slot)
    except IntegrityError:  # another tick process created it at the same moment
        return []
    if not created:
        return []
    queued = []
    policies = RetentionPolicy.objects.select_related(
        "entity__datastore", "anchor_column", "regulation"
    ).order_by("pk")
    for policy in policies:
        try:
            queued.append(
                retention_execution_request(policy=policy, trigger=ExecutionTrigger.SCHEDULE, sweep=sweep)
            )
        except RetentionBusy as exc:
            logger.info("Scheduled retention skipped: %s", exc.message)
    return queued
