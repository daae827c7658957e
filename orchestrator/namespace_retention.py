"""How long the embedded server keeps a completed workflow's history: its namespace's
retention, set to MAILROOM_RETENTION_DAYS at every start (`temporal server start-dev` has no
flag for it and creates namespaces with 1 day). Temporal's least is 1 day. On a cluster the
operator sets it (docs/operations.md, "Retention")."""

from __future__ import annotations

from datetime import timedelta

import structlog
from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client

log = structlog.get_logger()

LEAST_RETENTION = timedelta(days=1)  # the server refuses less


def history_retention(retention_days: int) -> timedelta:
    return max(timedelta(days=retention_days), LEAST_RETENTION)


async def namespace_retention(client: Client, namespace: str) -> timedelta:
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


async def keep_history_retention(client: Client, namespace: str, retention_days: int) -> None:
    """Set `namespace`'s retention when it differs (only that field of its config)."""
    wanted = history_retention(retention_days)
    if await namespace_retention(client, namespace) == wanted:
        return
    ttl = Duration()
    ttl.FromTimedelta(wanted)
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=namespace, config=NamespaceConfig(workflow_execution_retention_ttl=ttl)
        )
    )
    log.info("namespace_retention_set", namespace=namespace, days=wanted.days)
