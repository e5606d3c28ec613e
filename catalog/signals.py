"""Signals the catalog sends so other apps can join in without the catalog importing them."""

from django.dispatch import Signal

__all__ = ["demo_loaded"]

# Sent by the load_demo command right after `catalog.demo.demo_load`, in the same transaction, with
# `stores` ({name: DataStore}) and `users` ({role: User}). A receiver adds its app's demo objects
# idempotently and may return counts ({"pipelines": 5}) that load_demo reports. `demo_load` itself, which
# tests use as a plain demo catalog, sends nothing.
demo_loaded = Signal()
