"""inmesh.security's public surface: sorted, importable, and what the issue names."""

from __future__ import annotations

import inmesh.security
from tests.unit.test_public_api import is_sorted


def test_all_is_sorted_and_importable() -> None:
    names = list(inmesh.security.__all__)
    assert is_sorted(names), names
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(inmesh.security, name) is not None, name


def test_the_evaluator_api() -> None:
    assert {"check", "AuthzRequest", "Decision", "SpiffeId", "CertificateAuthority"} <= set(
        inmesh.security.__all__
    )
    assert issubclass(inmesh.security.CertificateError, inmesh.InmeshError)
