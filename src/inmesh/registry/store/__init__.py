"""The registry's storage: what it stores, and the two backends that keep it.

===========================  =================================================================
``_base``                    the contract (:class:`Store`) and its records: ``ResourceKey``,
                             ``StoredResource``, ``WorkloadRecord`` (a live registration and its
                             lease), ``Token``, ``Write``/``WriteResult`` (one transaction),
                             ``State`` (a snapshot's inputs at one revision), ``Changes``
                             (the change log's answer: what changed after a revision)
``_sqlite``, ``_sqlite_sql``  :class:`SqliteStore`: one SQLite database in WAL mode (default)
``_etcd``, ``_etcd_client``  :class:`EtcdStore`: etcd v3 over its JSON gateway (replicas)
``_etcd_log``                the etcd store's change log: its watch events, in memory
===========================  =================================================================

Only the registry's server imports this package; a workload's client never does.
"""

from __future__ import annotations

from ._base import (
    REGISTERED_ANNOTATION,
    Changes,
    ResourceKey,
    State,
    Store,
    StoredResource,
    Token,
    WorkloadRecord,
    Write,
    WriteResult,
    iso_time,
)
from ._etcd import EtcdStore
from ._sqlite import SqliteStore

__all__ = [
    "REGISTERED_ANNOTATION",
    "Changes",
    "EtcdStore",
    "ResourceKey",
    "SqliteStore",
    "State",
    "Store",
    "StoredResource",
    "Token",
    "WorkloadRecord",
    "Write",
    "WriteResult",
    "iso_time",
]
