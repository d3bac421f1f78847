"""The endpoint tier: the httpcore request, its timeouts, TLS name and pool key."""

from __future__ import annotations

import httpcore
import httpx
import pytest

from inmesh.balancing import Endpoint
from inmesh.outbound import PoolKey
from inmesh.outbound._endpoint import core_request, exchange_for

from ._support import mesh


def test_core_request_matches_httpcores_checked_constructor() -> None:
    req = httpx.Request("POST", "http://backend/a?b=1", headers={"x-a": "1"}, content=b"hi")
    checked = httpcore.Request(
        method=req.method,
        url=httpcore.URL(scheme=b"http", host=b"10.0.0.1", port=80, target=b"/a?b=1"),
        headers=req.headers.raw,
        content=req.stream,
        extensions=req.extensions,
    )
    fast = core_request(
        b"POST", b"http", b"10.0.0.1", 80, b"/a?b=1", req.headers.raw, req.stream, req.extensions
    )
    # an httpcore upgrade that adds state to either class shows up here
    assert vars(fast) == vars(checked)
    assert vars(fast.url) == vars(checked.url)


def _exchange(timeout: float | None, app: dict[str, float] | None = None, **kw: object):  # type: ignore[no-untyped-def]
    m, _ = mesh()
    cluster = m.snapshot.cluster_for("backend.default.svc.cluster.local", None, 80)
    assert cluster is not None
    req = httpx.Request("GET", "http://backend/", extensions={"timeout": app or {}})
    return exchange_for(
        request=req,
        endpoint=Endpoint("127.0.0.1", 9001),
        cluster=kw.get("cluster", cluster),  # type: ignore[arg-type]
        tls=None,
        https=bool(kw.get("https", False)),
        server_name="backend",
        raw_path=b"/",
        headers=req.headers.raw,
        timeout=timeout,
        snapshot=m.snapshot,
    )


def test_the_attempt_time_caps_every_phase_and_owns_the_read_timeout() -> None:
    ex = _exchange(0.25, {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0})
    assert ex.core.extensions["timeout"] == {
        "connect": 0.25,
        "read": 0.25,
        "write": 0.25,
        "pool": 0.25,
    }
    assert ex.timed_by_mesh


def test_a_shorter_application_read_timeout_stays_the_applications() -> None:
    ex = _exchange(2.0, {"connect": 5.0, "read": 1.0, "write": 5.0, "pool": 5.0})
    assert ex.core.extensions["timeout"]["read"] == 1.0
    assert not ex.timed_by_mesh


def test_connect_timeout_defaults_to_istios_ten_seconds() -> None:
    ex = _exchange(None, {"connect": 30.0})
    assert ex.core.extensions["timeout"]["connect"] == pytest.approx(10.0)
    assert ex.timeout is None and not ex.timed_by_mesh


def test_application_tls_keeps_its_server_name_and_the_pool_key_names_the_cluster() -> None:
    ex = _exchange(None, https=True)
    assert ex.core.url.scheme == b"https"
    assert ex.core.extensions["sni_hostname"] == "backend"
    assert ex.pool_key.cluster == "outbound|80||backend.default.svc.cluster.local"
    assert ex.pool_key.endpoint == "127.0.0.1:9001"
    assert not ex.pool_key.passthrough


def test_passthrough_pool_key() -> None:
    ex = _exchange(None, cluster=None)
    assert ex.pool_key == PoolKey("PassthroughCluster", "127.0.0.1:9001", None)
    assert ex.pool_key.passthrough
