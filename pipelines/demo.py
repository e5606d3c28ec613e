"""Demo pipelines: sample source files and five pipelines over the demo catalog, added by load_demo.

The catalog's load_demo command sends `catalog.signals.demo_loaded`; `demo_pipelines_load` answers it
(connected in `PipelinesConfig.ready`). It copies `demo_data/*` into CUSTODIAN_IMPORT_ROOT/demo/ and applies
the pipeline files in `demo_data/pipelines/` through `pipeline_apply_config`. It only adds what is missing:
a pipeline or sample file that is there stays as it is (a user's edit survives), so running it again saves
nothing and writes no history. Two of the pipelines read dirty data on purpose and quarantine some rows.
"""

import shutil
from pathlib import Path

from django.conf import settings

from catalog.roles import PLATFORM_ADMIN
from pipelines.as_code import pipeline_apply_config, pipeline_yaml_load
from pipelines.models import Pipeline

__all__ = ["DEMO_DATA", "DEMO_FOLDER", "DEMO_PIPELINES", "demo_files_copy", "demo_pipelines_load"]

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
DEMO_FOLDER = "demo"
# In dependency order: each names the one before as run_after, so running demo_products loads them all.
DEMO_PIPELINES = ["demo_products", "demo_dim_product", "demo_dim_date", "demo_dim_customer", "demo_sales"]


def demo_files_copy() -> Path:
    """Copy the sample files that are missing into the import folder's demo/; returns the folder."""
    folder = Path(settings.CUSTODIAN_IMPORT_ROOT) / DEMO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(DEMO_DATA.iterdir()):
        if not source.is_file():
            continue
        copy = folder / source.name
        if not copy.exists():
            shutil.copyfile(source, copy)
    return folder


def demo_pipelines_load(sender=None, *, users: dict, **kwargs) -> dict:
    """Receiver of demo_loaded: the missing sample files and demo pipelines, owned by the demo platform
    admin."""
    demo_files_copy()
    user = users[PLATFORM_ADMIN]
    existing = set(Pipeline.objects.filter(name__in=DEMO_PIPELINES).values_list("name", flat=True))
    for name in DEMO_PIPELINES:
        if name in existing:
            continue
        text = (DEMO_DATA / "pipelines" / f"{name}.yaml").read_text(encoding="utf-8")
        pipeline_apply_config(pipeline_yaml_load(text), user=user)
    return {"pipelines": len(DEMO_PIPELINES)}
