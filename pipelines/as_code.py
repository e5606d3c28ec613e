"""Pipelines as code: the YAML form of a pipeline, read and written.

`pipeline_to_config` gives the dict that `pipeline_export` writes as YAML and that each run records as
what it ran.
"""

__all__ = ["pipeline_to_config"]


def pipeline_to_config(pipeline) -> dict:
    """The pipeline as plain data, keyed by names (never database ids), in the YAML file's layout."""
    source: dict = {"kind": pipeline.source_kind}
    if pipeline.is_file_source:
        if pipeline.source_path:
            source["path"] = pipeline.source_path
        elif pipeline.source_file:
            source["upload"] = pipeline.source_file.name
        source["encoding"] = pipeline.encoding
        if pipeline.source_kind == "csv":
            source["delimiter"] = pipeline.csv_delimiter
            source["quotechar"] = pipeline.csv_quotechar
        source["header"] = pipeline.has_header
        source["null_markers"] = list(pipeline.null_markers or [])
        if pipeline.sheet_name:
            source["sheet"] = pipeline.sheet_name
    else:
        source["datastore"] = pipeline.source_datastore.name if pipeline.source_datastore_id else None
        if pipeline.source_kind == "sql_table":
            source["table"] = pipeline.source_table
        else:
            source["query"] = pipeline.source_query
    mappings = []
    for mapping in pipeline.mappings.select_related("column").order_by("position", "id"):
        item: dict = {"column": mapping.column.name}
        if mapping.source_field:
            item["field"] = mapping.source_field
        if mapping.constant is not None:
            item["constant"] = mapping.constant
        if mapping.steps:
            item["steps"] = mapping.steps
        mappings.append(item)
    config = {
        "name": pipeline.name,
        "description": pipeline.description,
        "enabled": pipeline.enabled,
        "target": {"datastore": pipeline.target.datastore.name, "entity": pipeline.target.name},
        "source": source,
        "extract": {"mode": pipeline.extract_mode},
        "load": {"mode": pipeline.load_mode},
        "reject_threshold_percent": float(pipeline.reject_threshold_percent),
        "batch_size": pipeline.batch_size,
        "max_retries": pipeline.max_retries,
        "mappings": mappings,
    }
    if pipeline.watermark_field:
        config["extract"]["watermark"] = pipeline.watermark_field
    if pipeline.key_columns:
        config["load"]["key"] = list(pipeline.key_columns)
    if pipeline.schedule:
        config["schedule"] = pipeline.schedule
    if pipeline.run_after_id:
        config["run_after"] = pipeline.run_after.name
    if pipeline.owner_id:
        config["owner"] = pipeline.owner.get_username()
    return config
