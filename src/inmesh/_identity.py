"""The workload's identity: its SPIFFE certificate, issued at start and renewed in place.

Istio's agent keeps the workload key in memory, asks istiod to sign a CSR, and rotates the
certificate at half its lifetime (with jitter); so does this, with an issuer that is either
a local CA directory (``Mesh(ca=DIR)``) or the registry. A rotation swaps the
:class:`~inmesh.security.TLSHolder`'s current certificate: new connections use it,
connections already open finish on the old one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .security import IssuedCertificate, SpiffeId, TLSHolder, WorkloadTLS

log = logging.getLogger("inmesh.identity")

#: signs a CSR (PEM) for the workload's identity
Issuer = Callable[[bytes], "IssuedCertificate"]

_RETRY_MIN = 1.0
_RETRY_MAX = 30.0


class WorkloadIdentity:
    """The certificate of one workload: ``holder`` after :meth:`start`; renewed by a daemon
    thread at Istio's half-life rule until :meth:`stop`."""

    def __init__(
        self,
        spiffe_id: SpiffeId,
        issuer: Issuer,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spiffe_id = spiffe_id
        self._issuer = issuer
        self._rng = rng or random.Random()
        self._clock = clock
        self.holder: TLSHolder | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._issued: IssuedCertificate | None = None
        self._received = 0.0

    def start(self) -> TLSHolder:
        """Issue the first certificate (raises what the issuer raises) and start renewing."""
        from .security import TLSHolder

        if self.holder is not None:
            return self.holder
        self.holder = TLSHolder(self._new())
        self._thread = threading.Thread(
            target=self._renew_loop, name="inmesh-certificate-rotation", daemon=True
        )
        self._thread.start()
        return self.holder

    def start_later(self, on_ready: Callable[[TLSHolder], None]) -> None:
        """Keep asking for the first certificate in the background (the issuer is not
        reachable now); call ``on_ready`` with the holder once there is one, then renew."""
        from .security import TLSHolder

        def first_then_renew() -> None:
            retry = _RETRY_MIN
            while not self._stop.is_set():
                try:
                    self.holder = TLSHolder(self._new())
                except Exception as exc:
                    log.warning("no certificate for %s yet: %s", self.spiffe_id, exc)
                    if self._stop.wait(retry):
                        return
                    retry = min(retry * 2, _RETRY_MAX)
                    continue
                on_ready(self.holder)
                self._renew_loop()
                return

        self._thread = threading.Thread(
            target=first_then_renew, name="inmesh-certificate-rotation", daemon=True
        )
        self._thread.start()

    def _new(self) -> WorkloadTLS:
        from .security import WorkloadTLS, generate_key, make_csr

        key = generate_key()  # never leaves this process
        issued = self._issuer(make_csr(key, self.spiffe_id))
        self._issued = issued
        self._received = self._clock()
        return WorkloadTLS.build(key, issued)

    def _renew_loop(self) -> None:
        from .security import RotationSchedule

        schedule = RotationSchedule()
        retry = _RETRY_MIN
        while True:
            issued = self._issued
            assert issued is not None and self.holder is not None
            # Istio's rotateTime measures the lifetime from when the secret was made (the
            # certificate's not-before is backdated 2 minutes for clock skew)
            wait = schedule.delay(
                created=self._received,
                expires=issued.not_after,
                now=self._clock(),
                rng=self._rng,
            )
            if self._stop.wait(max(0.0, wait)):
                return
            try:
                self.holder.swap(self._new())
            except Exception as exc:  # keep the current certificate; try again soon
                left = issued.not_after - self._clock()
                log.warning("certificate renewal for %s failed: %s", self.spiffe_id, exc)
                if self._stop.wait(min(retry, max(_RETRY_MIN, left / 10))):
                    return
                retry = min(retry * 2, _RETRY_MAX)
                continue
            retry = _RETRY_MIN
            log.debug("certificate of %s renewed", self.spiffe_id)

    def stop(self) -> None:
        self._stop.set()


def local_issuer(ca_dir: str, spiffe_id: SpiffeId, *, ttl: float = 0.0) -> Issuer:
    """Sign with a CA directory in this process (``inmesh ca init DIR``; one host, tests);
    ``ttl`` seconds (0: the CA's default, 24 h)."""
    from .security import CertificateAuthority

    ca = CertificateAuthority.load(ca_dir)

    def issue(csr_pem: bytes) -> IssuedCertificate:
        return ca.sign(csr_pem, identity=spiffe_id, ttl=ttl)

    return issue


def registry_issuer(
    sign: Callable[..., Any], spiffe_id: SpiffeId, *, ttl: float | None = None
) -> Issuer:
    """Have the registry's CA sign (``BackgroundWatch.sign``: ``POST /v1/certificates``)."""

    def issue(csr_pem: bytes) -> IssuedCertificate:
        from .security import IssuedCertificate

        signed = sign(
            csr_pem.decode("ascii"),
            namespace=spiffe_id.namespace,
            service_account=spiffe_id.service_account,
            ttl=ttl,
        )
        return IssuedCertificate.from_pem(
            identity=spiffe_id,
            chain_pem=signed.chain_pem.encode("ascii"),
            root_pem="".join(signed.root_pems).encode("ascii"),
        )

    return issue


def from_ca_dir(spiffe_id: SpiffeId, ca_dir: str, *, ttl: float | None) -> WorkloadIdentity:
    """The identity of a workload whose certificates a local CA directory signs
    (``Mesh(ca=...)``); :meth:`WorkloadIdentity.start` issues the first."""
    return WorkloadIdentity(spiffe_id, local_issuer(ca_dir, spiffe_id, ttl=ttl or 0.0))


def from_registry(
    spiffe_id: SpiffeId,
    sign: Callable[..., Any],
    *,
    ttl: float | None,
    install: Callable[[TLSHolder], None],
) -> WorkloadIdentity:
    """The identity of a workload whose certificates the registry's CA signs (istiod's
    role), started: ``install`` receives the holder. A token that may not hold the
    identity, or a refused CSR, raises; a registry that is unreachable (the cached view
    stands in) or has no CA leaves the workload without a certificate for now, and it keeps
    asking in the background, installing the holder once it has one."""
    from .registry import RegistryRejected

    identity = WorkloadIdentity(spiffe_id, registry_issuer(sign, spiffe_id, ttl=ttl))
    try:
        install(identity.start())
    except RegistryRejected:
        raise
    except Exception as exc:
        log.warning("no certificate for %s yet (%s): retrying in the background", spiffe_id, exc)
        identity.start_later(install)
    return identity
