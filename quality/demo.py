"""What the quality app adds to the demo: every demo entity's rules implied by the catalog, so that a new user
sees them in the Rules list at once (otherwise they appear when someone first opens an entity's page or
runs its checks). The catalog's load_demo command sends `catalog.signals.demo_loaded`.
"""

from catalog.models import Entity
from catalog.roles import DATA_STEWARD
from quality.rules import rules_implied_sync

__all__ = ["demo_rules_load"]


def demo_rules_load(sender=None, *, stores: dict, users: dict, **kwargs) -> dict:
    """Receiver of demo_loaded: implied rules for the demo stores' entities that have none yet, written by the
    demo steward. An entity with implied rules keeps them as they are (its page brings them in line with
    the catalog when it is opened), so running the demo again changes no rule."""
    created = 0
    entities = Entity.objects.filter(datastore__in=stores.values()).exclude(quality_rules__origin="catalog")
    for entity in entities.order_by("pk"):
        created += rules_implied_sync(entity, user=users[DATA_STEWARD])["created"]
    return {"implied quality rules": created}
