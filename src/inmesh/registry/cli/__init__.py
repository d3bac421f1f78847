"""The registry's command line, for ``inmesh`` and ``python -m inmesh.registry``.

==================  =====================================================================
``_parser``         :func:`add_commands`: ``registry serve|token``, ``apply``, ``get``,
                    ``delete``, ``status [--proxies]`` and their options
``_commands``       what each command does; the registry URL and token lookup; errors as
                    one ``error:`` line each
``_input``          the documents ``apply -f`` / ``delete -f`` send, and the file and
                    document each came from (the registry's problems mapped back)
``_http``           the one request to the registry (``http.client``)
``_status``         ``inmesh status``: services, versions, endpoints, health
``_proxy_status``   ``inmesh status --proxies``: SYNCED / STALE and rejections per client
==================  =====================================================================

Only ``registry serve`` loads the server (uvicorn, Starlette, the stores); the other
commands are HTTP clients that import neither httpx nor the configuration models.
"""

from __future__ import annotations

from ._parser import add_commands

__all__ = ["add_commands"]
