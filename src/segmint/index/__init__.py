"""The columnar index: each project's leads and events held as columns in this process's memory,
answering counts, pages and exports in milliseconds, exactly as the SQL path would.

- vectors.py, columns.py: values as numpy columns, and the operands the registry's vector forms
  read (each operator has its vector form beside its SQL and Python forms: filters/operators.py);
- tables.py: a project's leads, accounts, events and memberships as columns;
- feed.py, loading.py: building from the database and catching up from its change feed;
- evaluate.py: a filter tree to one boolean per lead;
- project.py: one project's index, read under its lock in one snapshot;
- registry.py: the process's indexes, their memory budget and background builds.
"""

from segmint.index.project import Audience, ProjectIndex, Reader
from segmint.index.registry import Indexes, Settings, attach, detach, indexes_for

__all__ = [
    "Audience",
    "Indexes",
    "ProjectIndex",
    "Reader",
    "Settings",
    "attach",
    "detach",
    "indexes_for",
]
