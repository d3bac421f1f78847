"""The client's construction: a registry URL needs its scheme."""

from __future__ import annotations

import pytest

from inmesh.registry import RegistryClient, RegistryError
from inmesh.registry.client import ProxyInfo, check_url


@pytest.mark.parametrize("url", ["127.0.0.1:39469", "localhost:15010", "ftp://host", "http://"])
def test_a_url_without_an_http_scheme_is_refused_at_once(url: str) -> None:
    with pytest.raises(RegistryError, match=r"is invalid.*scheme http or https is required"):
        RegistryClient(url)


def test_a_good_url_loses_its_trailing_slash() -> None:
    assert check_url("http://127.0.0.1:15010/") == "http://127.0.0.1:15010"
    assert RegistryClient("https://registry.example:443").url == "https://registry.example:443"


def test_each_client_gets_its_own_proxy_id() -> None:
    a = RegistryClient("http://127.0.0.1:1", proxy=ProxyInfo("cart"))
    b = RegistryClient("http://127.0.0.1:1", proxy=ProxyInfo("cart"))
    assert a.proxy_id != b.proxy_id and len(a.proxy_id) == 8


def test_a_mesh_given_a_registry_without_a_scheme_says_so_when_started() -> None:
    import inmesh

    mesh = inmesh.Mesh(service="productpage", registry="127.0.0.1:39469")
    with pytest.raises(RegistryError, match=r"'127\.0\.0\.1:39469' is invalid"), mesh:
        pass  # pragma: no cover - never entered
