"""The Telemetry API's tracing laid over the Mesh's configured tracer, per direction."""

from __future__ import annotations

from typing import Any

import pytest

import inmesh
from inmesh.telemetry import HeaderTag, Tracing


def telemetry(*tracing: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "telemetry.istio.io/v1",
        "kind": "Telemetry",
        "metadata": {"name": "tracing", "namespace": "shop"},
        "spec": {"tracing": list(tracing)},
    }


@pytest.fixture(autouse=True)
def _no_otel_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_sampling_and_tags_per_direction_over_the_configured_tracer() -> None:
    configured = Tracing(sampling=1, custom_tags={"team": "a"})
    mesh = inmesh.Mesh(service="reviews", namespace="shop", tracing=configured, metrics=False)
    assert mesh._state.tracing is not None and mesh._state.tracing.settings.sampling == 1
    mesh.apply(
        [
            telemetry(
                {
                    "match": {"mode": "SERVER"},
                    "randomSamplingPercentage": 25,
                    "customTags": {"user": {"header": {"name": "x-user", "defaultValue": "-"}}},
                }
            )
        ]
    )
    server, client = mesh._state.tracing, mesh._state.client_tracing
    assert server is not None and client is not None
    assert server.settings.sampling == 25
    assert dict(server.settings.custom_tags) == {"user": HeaderTag("x-user", "-")}
    # CLIENT mode untouched: the configured tracer as it was
    assert client.settings.sampling == 1 and dict(client.settings.custom_tags) == {"team": "a"}
    mesh.apply([telemetry({"disableSpanReporting": True})])
    assert mesh._state.tracing is None and mesh._state.client_tracing is None
    mesh.apply([])  # no Telemetry: the configured tracer again
    assert mesh._state.tracing is not None and mesh._state.tracing.settings == configured
    mesh.close()


def test_telemetry_turns_tracing_on_when_nothing_configured_it_and_off_again() -> None:
    mesh = inmesh.Mesh(service="reviews", namespace="shop", metrics=False)
    assert mesh._state.tracing is None and mesh._state.client_tracing is None
    mesh.apply([telemetry({"randomSamplingPercentage": 10})])
    for tracer in (mesh._state.tracing, mesh._state.client_tracing):
        assert tracer is not None and tracer.settings.sampling == 10
    mesh.apply([])
    assert mesh._state.tracing is None and mesh._state.client_tracing is None
    mesh.close()
