"""Technology-adaptive output: the catalog as ORM models and validators for application teams.

Each target (sqlalchemy, django, jpa, efcore, typeorm, mongodb) is a module with `generate(model, options)`
returning files. What they share:
- `base.py`: the catalog as a language-neutral model read from the typed schema model (CodeModel), names
  (pascal/camel/snake case, collisions), audit columns, surrogate keys, the error for what a target cannot do;
- `planner.py`: one planner for class names, members and both sides of every relation, driven by each
  target's `LanguageDescriptor` (types, case, keywords, reserved names, suffixes);
- `ddl.py`: what Custodian's own DDL says (checks, index conditions, types) so the code agrees with it;
- `python_source.py`: Python source helpers shared by the SQLAlchemy and Django targets.
"""
