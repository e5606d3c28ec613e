"""Technology-adaptive output: the catalog as ORM models and validators for application teams.

Each target (sqlalchemy, django, jpa, efcore, typeorm, mongodb) is a module with `generate(model, options)`
returning files; `base.py` holds what they share: the catalog as a language-neutral model, name conversion,
and the error for what a target cannot express (each target keeps its own language's reserved words).
"""
