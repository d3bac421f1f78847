"""Where the registry's CA comes from (``open_ca``) and how it describes itself."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from inmesh.registry import RegistryError
from inmesh.registry.server import open_ca
from inmesh.security import CertificateAuthority


def test_first_start_makes_a_root_and_later_starts_load_it(tmp_path: Path) -> None:
    first = open_ca(tmp_path, trust_domain="example.org")
    key = tmp_path / "ca" / "ca-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert first.source == f"self-signed {tmp_path / 'ca'}"
    again = open_ca(tmp_path, cert_ttl=600.0, max_cert_ttl=3600.0)
    assert again.authority.certificate == first.authority.certificate
    assert (again.authority.default_ttl, again.authority.max_ttl) == (600.0, 3600.0)
    described = first.describe()
    assert described["trustDomain"] == "example.org"
    assert described["roots"][0]["subject"] == "O=example.org"
    assert described["roots"][0]["fingerprint"].startswith("SHA256:")
    assert len(described["roots"][0]["fingerprint"]) == len("SHA256:") + 32 * 3 - 1
    assert first.identity("a", "x").uri == "spiffe://example.org/ns/a/sa/x"


def test_plug_in_directory_is_loaded_not_generated(tmp_path: Path) -> None:
    plugged = CertificateAuthority.init_root(tmp_path / "plug")
    ca = open_ca(tmp_path / "data", ca_dir=tmp_path / "plug", shared_store=True)
    assert ca.authority.certificate == plugged.certificate
    assert ca.source == f"plug-in {tmp_path / 'plug'}"
    assert not (tmp_path / "data" / "ca").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shared_store": True}, "--store etcd needs --ca-dir DIR"),
        ({"trust_domain": "Not Valid"}, "--trust-domain 'Not Valid'"),
        ({"cert_ttl": 7200.0, "max_cert_ttl": 3600.0}, "--cert-ttl 7200s must be"),
        ({"ca_dir": Path("/nonexistent/ca")}, "--ca-dir: /nonexistent/ca: not a CA directory"),
    ],
)
def test_bad_options_are_one_clear_error(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(RegistryError) as info:
        open_ca(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
    assert not (tmp_path / "ca").exists()


def test_a_half_written_ca_dir_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "ca-cert.pem").write_text("junk")
    with pytest.raises(RegistryError) as info:
        open_ca(tmp_path)
    assert "the registry's CA:" in str(info.value)
    assert (tmp_path / "ca" / "ca-cert.pem").read_text() == "junk"
