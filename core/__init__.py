"""The shared kernel every app stands on; it imports nothing from catalog, pipelines, quality or
compliance."""
