"""The pools tier's pure decision: which pools a new snapshot retires."""

from __future__ import annotations

import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpcore
import pytest

from inmesh.outbound import PoolKey
from inmesh.outbound._pools import DEFAULT_LIMITS, Pools, is_live, live_keys, retired

from ._support import mesh


def test_live_keys_name_every_endpoint_of_every_cluster() -> None:
    m, _ = mesh()
    keys = live_keys(m.snapshot)
    assert {k.endpoint for k in keys} == {"127.0.0.1:9001", "127.0.0.2:9002"}


def test_is_live_answers_for_one_key_what_live_keys_says_for_all() -> None:
    m, _ = mesh()
    live = live_keys(m.snapshot)
    assert live and all(is_live(m.snapshot, k) for k in live)
    name, endpoint, settings = next(iter(live))
    gone = [
        PoolKey(name, "10.9.9.9:1", settings),  # an endpoint the cluster does not have
        PoolKey(name, endpoint, ("other settings",)),  # settings changed
        PoolKey("outbound|1|v9|nowhere.example", endpoint, settings),  # no such cluster
        PoolKey("not a cluster name", endpoint, settings),
    ]
    assert [is_live(m.snapshot, k) for k in gone] == [False, False, False, False]
    assert is_live(m.snapshot, PoolKey("PassthroughCluster", "x:80", None))


def test_pools_of_gone_endpoints_and_changed_settings_retire_and_passthrough_stays() -> None:
    live = {PoolKey("c", "a:1", ("s2",)), PoolKey("od", "*", ("s",))}
    keys = [
        PoolKey("c", "a:1", ("s1",)),  # settings changed
        PoolKey("c", "a:1", ("s2",)),  # still live
        PoolKey("c", "b:1", ("s2",)),  # endpoint gone
        PoolKey("od", "9.9.9.9:80", ("s",)),  # original destination: any address is live
        PoolKey("PassthroughCluster", "x:80", None),
    ]
    assert retired(keys, live) == [keys[0], keys[2]]


class _Conn:
    def __init__(self, idle: bool) -> None:
        self._idle = idle

    def is_idle(self) -> bool:
        return self._idle


class _Pool:
    def __init__(self, *, requests: int, idle: bool) -> None:
        self._requests = [object()] * requests
        self.connections = [_Conn(idle)]


def test_a_retired_pool_is_closed_only_when_no_request_is_in_it() -> None:
    from inmesh.outbound._pools import _unused

    # a request just handed an idle connection: the connection still looks idle
    assert not _unused(_Pool(requests=1, idle=True))
    assert not _unused(_Pool(requests=0, idle=False))
    assert _unused(_Pool(requests=0, idle=True))


def test_the_default_tls_context_is_made_once_per_process() -> None:
    from inmesh.outbound._pools import app_ssl_context

    default = app_ssl_context(True, None, True)
    assert app_ssl_context(True, None, True) is default  # no CA bundle load per client
    unverified = app_ssl_context(False, None, True)
    assert unverified is not default and unverified.verify_mode.name == "CERT_NONE"


class _Recorded:
    """A pool factory that keeps what each pool was built with."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


def _exchange(snapshot: Any, url: bytes, endpoint: str) -> Any:
    return SimpleNamespace(
        snapshot=snapshot,
        generation=0,
        pool_key=PoolKey("PassthroughCluster", endpoint, None),
        cluster=None,
        tls=None,
        workload_tls=None,
        mtls=None,
        core=httpcore.Request("GET", url),
    )


def _pools(**tls: Any) -> Pools:
    settings: dict[str, Any] = {"verify": True, "cert": None, "trust_env": True, **tls}
    return Pools(
        _Recorded,
        identity_backend=lambda identities, backend: backend,
        limits=DEFAULT_LIMITS,
        http1=True,
        http2=False,
        **settings,
    )


def test_the_default_tls_context_waits_for_the_first_https_request() -> None:
    m, _ = mesh()
    pools = _pools()
    plain = pools.get(_exchange(m.snapshot, b"http://a:80/", "a:80"))
    assert plain.kwargs["ssl_context"] is None  # plain HTTP so far: no CA bundle loaded
    secure = pools.get(_exchange(m.snapshot, b"https://b:443/", "b:443"))
    context = secure.kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    # the pool built without it retires (its requests finish); the next one has it
    assert pools.retiring == [plain]
    again = pools.get(_exchange(m.snapshot, b"http://a:80/", "a:80"))
    assert again is not plain and again.kwargs["ssl_context"] is context


def test_tls_settings_other_than_httpx_defaults_are_made_with_the_transport(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    m, _ = mesh()
    pools = _pools(verify=False)
    plain = pools.get(_exchange(m.snapshot, b"http://a:80/", "a:80"))
    assert plain.kwargs["ssl_context"].verify_mode == ssl.CERT_NONE
    # a CA file the environment names but that does not exist fails now, as in httpx.Client()
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(OSError):
        _pools()
    assert (
        _pools(trust_env=False)
        .get(_exchange(m.snapshot, b"http://a/", "a:80"))
        .kwargs["ssl_context"]
        is None
    )
