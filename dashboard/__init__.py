"""The operations dashboard on the admin's landing page: selectors (what each section reads, in a fixed
number of queries), charts (inline SVG drawn on the server) and the view that puts them above the app list.

It reads every app (catalog, pipelines, quality, compliance when installed), which is why it lives outside
them: `catalog` imports neither `pipelines` nor `quality` (DESIGN.md).
"""
