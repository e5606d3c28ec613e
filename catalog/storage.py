"""Storage per entity: PostgreSQL relation sizes sampled hourly by the scheduler tick.

`storage_tick` (named in settings.CUSTODIAN_SCHEDULED_TICKS) queues one sampling job per PostgreSQL data
store whose entities were not sampled yet in the current hour; `storage_sample` measures every entity's
table of a store in one catalog query on that store. The dashboard shows the newest sample per entity and
its growth against the sample of a week before.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from catalog.choices import DatabaseEngine
from catalog.models import DataStore, StorageSample
from core.errors import CustodianError
from core.jobs import job_connections_fresh, job_enqueue

__all__ = ["STORAGE_CATCH_UP", "storage_sample", "storage_sample_job", "storage_stores_due", "storage_tick"]

logger = logging.getLogger(__name__)

# A tick that comes this late into the hour still samples; later ones wait for the next hour, so a store
# that cannot be reached is tried for a quarter of an hour, not every minute all day.
STORAGE_CATCH_UP = timedelta(minutes=15)

# Sizes of the named tables of one schema, partitions included: a partitioned parent holds no rows itself,
# its leaf partitions do (pg_partition_tree lists them; for a plain table it returns nothing, so the table
# stands for itself). reltuples is -1 until a table has been analyzed.
SIZES_SQL = """
SELECT c.relname,
       sum(pg_total_relation_size(p.oid))::bigint,
       sum(p.reltuples) FILTER (WHERE p.reltuples >= 0)::bigint
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL pg_partition_tree(c.oid) t ON true
JOIN pg_class p ON p.oid = coalesce(t.relid, c.oid)
WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p') AND (t.relid IS NULL OR t.isleaf)
GROUP BY c.relname
"""


def _hour_slot(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def storage_sample(*, datastore: DataStore, now: datetime | None = None) -> list[StorageSample]:
    """Measure every entity's table on the PostgreSQL data store and record one sample each; returns them.

    Entities whose table does not exist yet (not applied) get no sample. SchemaError (or StoreUnreachable)
    when the store is not PostgreSQL or cannot be reached; nothing is recorded then.
    """
    from core.connections import datastore_pg_connect

    now = now or timezone.now()
    entities = {entity.name: entity for entity in datastore.entities.all()}
    if not entities:
        return []
    with datastore_pg_connect(datastore, application_name="custodian storage") as connection:
        rows = connection.execute(SIZES_SQL, (datastore.schema_name or "public", list(entities))).fetchall()
    samples = [
        StorageSample(entity=entities[name], bytes=size or 0, rows_estimate=rows_estimate, sampled_at=now)
        for name, size, rows_estimate in rows
    ]
    with transaction.atomic():
        return StorageSample.objects.bulk_create(samples)


def storage_stores_due(*, now: datetime) -> list[DataStore]:
    """PostgreSQL data stores with a connection and entities, not sampled since the start of this hour."""
    slot = _hour_slot(now)
    if now - slot > STORAGE_CATCH_UP:
        return []
    stores = (
        DataStore.objects.filter(engine=DatabaseEngine.POSTGRESQL, entities__isnull=False)
        .exclude(connection_alias="", url_env="")
        .annotate(last_sampled=Max("entities__storage_samples__sampled_at"))
        .filter(Q(last_sampled__isnull=True) | Q(last_sampled__lt=slot))
        .order_by("name")
    )
    return list(stores)


def storage_tick(*, now: datetime | None = None) -> list[DataStore]:
    """Queue a sampling job for every data store due this hour (the scheduler tick calls this each minute);
    returns the stores queued."""
    now = now or timezone.now()
    due = storage_stores_due(now=now)
    for store in due:
        # One job id per store and hour: a tick that sees the store again before the job ran adds nothing.
        job_id = f"custodian-storage-{store.pk}-{_hour_slot(now):%Y%m%d%H}"
        job_enqueue(
            "default",
            "catalog.storage.storage_sample_job",
            store.pk,
            _hour_slot(now).isoformat(),
            job_id=job_id,
        )
    return due


def storage_sample_job(datastore_id: int, slot: str) -> None:
    """The RQ job: sample the store unless another job already did in this hour's slot."""
    job_connections_fresh()
    slot_start = datetime.fromisoformat(slot)
    with transaction.atomic():
        # The lock makes a second job for the same slot wait, then find the samples and stop.
        store = DataStore.objects.select_for_update().filter(pk=datastore_id).first()
        if store is None:
            return
        if StorageSample.objects.filter(entity__datastore=store, sampled_at__gte=slot_start).exists():
            return
        try:
            samples = storage_sample(datastore=store)
        except CustodianError as exc:
            logger.warning("Storage of data store %s not sampled: %s", store.name, exc.message)
            return
    logger.info("Storage of data store %s: %d table(s) sampled", store.name, len(samples))
