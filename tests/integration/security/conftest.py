from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from inmesh.security import CertificateAuthority, SpiffeId, WorkloadTLS

FRONT = SpiffeId.of("shop", "front")
PAYMENTS = SpiffeId.of("shop", "payments")


@dataclass
class Mesh:
    ca: CertificateAuthority
    foreign: CertificateAuthority

    def workload(self, identity: SpiffeId, *, foreign: bool = False, ttl: float = 0) -> WorkloadTLS:
        ca = self.foreign if foreign else self.ca
        key, issued = ca.issue(identity, ttl=ttl)
        return WorkloadTLS.build(key, issued)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    base: Path = tmp_path_factory.mktemp("mesh-ca")
    return Mesh(
        CertificateAuthority.init_root(base / "ca"),
        CertificateAuthority.init_root(base / "foreign"),
    )
