"""The Kubernetes kinds Istio's samples ship with: Service, ServiceAccount, Deployment.

Only the fields the mesh reads are modelled (names, ports, selectors, labels, service
accounts). Kubernetes' schema for these kinds is huge and not ours to validate, so unlike
the Istio models these accept and keep unknown fields (``extra="allow"``): a real
``kubectl get -o yaml`` loads, and :func:`inmesh.config.dump_resource` writes it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inmesh.config._base import Document, ObjectMeta, istio_alias

__all__ = [
    "KubeContainer",
    "KubeContainerPort",
    "KubeDeployment",
    "KubeDeploymentSpec",
    "KubeLabelSelector",
    "KubePodSpec",
    "KubePodTemplate",
    "KubePodTemplateMetadata",
    "KubeService",
    "KubeServiceAccount",
    "KubeServicePort",
    "KubeServiceSpec",
]

PortNumber = Annotated[int, Field(ge=1, le=65535)]


class KubeModel(BaseModel):
    """Base of the Kubernetes models: frozen, camelCase aliases, unknown fields kept."""

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        populate_by_name=True,
        alias_generator=istio_alias,
        defer_build=True,
    )


class KubeObject(Document, KubeModel):
    """A top-level Kubernetes object with Istio-style ``name``/``namespace`` accessors."""

    #: ``_origin``: (file, document number) the object was loaded from (a slot, as
    #: :class:`~inmesh.config.IstioResource`'s)
    __slots__ = ("_origin",)

    metadata: ObjectMeta
    status: Mapping[str, Any] | None = None


class KubeServicePort(KubeModel):
    """A Service port; ``targetPort`` is a container port number or name (default: ``port``)."""

    name: str | None = None
    port: PortNumber
    target_port: int | str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None
    app_protocol: str | None = None
    node_port: int | None = None


class KubeServiceSpec(KubeModel):
    ports: tuple[KubeServicePort, ...] = ()
    selector: Mapping[str, str] = Field(default_factory=dict)
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] | None = None
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    cluster_ips: tuple[str, ...] = Field(default=(), alias="clusterIPs")
    external_name: str | None = None


class KubeService(KubeObject):
    """Core ``v1`` Service: a name, ports, and the pods it selects."""

    api_version: Literal["v1"] = Field(default="v1", alias="apiVersion")
    kind: Literal["Service"] = "Service"
    spec: KubeServiceSpec = Field(default_factory=KubeServiceSpec)


class KubeServiceAccount(KubeObject):
    """Core ``v1`` ServiceAccount: the workload identity behind mesh mTLS (SPIFFE ID)."""

    api_version: Literal["v1"] = Field(default="v1", alias="apiVersion")
    kind: Literal["ServiceAccount"] = "ServiceAccount"


class KubeLabelSelector(KubeModel):
    match_labels: Mapping[str, str] = Field(default_factory=dict)
    match_expressions: tuple[Mapping[str, Any], ...] = ()


class KubeContainerPort(KubeModel):
    container_port: PortNumber
    name: str | None = None
    protocol: str | None = None


class KubeContainer(KubeModel):
    name: str
    image: str | None = None
    ports: tuple[KubeContainerPort, ...] = ()


class KubePodSpec(KubeModel):
    service_account_name: str | None = None
    containers: tuple[KubeContainer, ...] = ()


class KubePodTemplateMetadata(KubeModel):
    labels: Mapping[str, str] = Field(default_factory=dict)
    annotations: Mapping[str, str] = Field(default_factory=dict)


class KubePodTemplate(KubeModel):
    metadata: KubePodTemplateMetadata = Field(default_factory=KubePodTemplateMetadata)
    spec: KubePodSpec = Field(default_factory=KubePodSpec)


class KubeDeploymentSpec(KubeModel):
    replicas: int | None = None
    selector: KubeLabelSelector = Field(default_factory=KubeLabelSelector)
    template: KubePodTemplate = Field(default_factory=KubePodTemplate)


class KubeDeployment(KubeObject):
    """``apps/v1`` Deployment: pods with labels (``version: v1``) and a service account."""

    api_version: Literal["apps/v1"] = Field(default="apps/v1", alias="apiVersion")
    kind: Literal["Deployment"] = "Deployment"
    spec: KubeDeploymentSpec = Field(default_factory=KubeDeploymentSpec)

    @property
    def pod_labels(self) -> Mapping[str, str]:
        """The labels of the pods this Deployment creates."""
        return self.spec.template.metadata.labels

    @property
    def replicas(self) -> int:
        """``spec.replicas``, or Kubernetes' default of 1."""
        return 1 if self.spec.replicas is None else self.spec.replicas
