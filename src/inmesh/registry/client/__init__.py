"""The registry's client: what a workload imports to follow the registry.

=======================  ===================================================================
``_client``              :class:`RegistryClient`: API calls, the long-poll watch with
                         backoff and last-known-good view, the URL check
``_view``                :class:`RegistryView` (one revision, as parsed) and
                         :class:`Rejection`; a bad document is skipped, not fatal
``_proxy``               :class:`ProxyInfo` and the status report behind
                         ``inmesh status --proxies`` (applied revision, rejections)
``_registration``        :class:`Registration`: register, heartbeat, deregister
``_certs``               :class:`SignedCertificate`: a CSR signed by the registry's CA,
                         the trust bundle (``sign``, ``roots``)
``_thread``              :class:`BackgroundWatch`: the watch on its own loop, for sync apps
``_cache``               the cache file (last snapshot, for restarts during an outage)
=======================  ===================================================================

Importing this package loads httpx and ``inmesh.config``, never the server side
(Starlette, uvicorn, SQLite, the stores or the analyzer); a test keeps it so.
"""

from __future__ import annotations

from ._certs import SignedCertificate
from ._client import RegistryClient, check_url
from ._proxy import ProxyInfo
from ._registration import Registration
from ._thread import BackgroundRegistration, BackgroundWatch, OnView
from ._view import RegistryView, Rejection

__all__ = [
    "BackgroundRegistration",
    "BackgroundWatch",
    "OnView",
    "ProxyInfo",
    "Registration",
    "RegistryClient",
    "RegistryView",
    "Rejection",
    "SignedCertificate",
    "check_url",
]
