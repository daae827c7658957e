"""What the worker needs of its Temporal namespace, checked before it polls: a thread that
upserts a search attribute the namespace lacks fails every workflow task (retried forever,
the thread stuck), so a worker that would do so refuses to start, in one line."""

from __future__ import annotations

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from orchestrator.startup_checks import StartupError
from workflows.search_attributes import THREAD_ATTRIBUTES

log = structlog.get_logger()

SETTING = "MAILROOM_SEARCH_ATTRIBUTES"


def attribute_type(key: SearchAttributeKey[str]) -> str:
    """The type as `temporal operator search-attribute create --type` names it."""
    return key.indexed_value_type.name.title()  # KEYWORD → Keyword, TEXT → Text


async def check_search_attributes(client: Client, namespace: str, *, register: bool) -> None:
    """Every thread attribute is registered on `namespace` with its type. With `register`
    (the embedded server, which is mailroom's own) the missing ones are added: its
    `--search-attribute` flags register them only when it creates its database, so one made
    by an earlier mailroom lacks the newer ones. Otherwise StartupError names the missing
    ones and the commands that create them. A server that does not let this client list
    them (a permission, an old server) is warned about, not refused."""
    try:
        missing = await missing_on(client, namespace)
        if missing and register:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={k.name: indexed_type(k) for k in missing},
                )
            )
            log.info("search_attributes_registered", names=[key.name for key in missing])
            return
    except RPCError as exc:
        log.warning("search_attributes_unchecked", namespace=namespace, reason=exc.message)
        return
    if missing:
        raise StartupError(missing_attributes(missing, namespace))


async def missing_on(client: Client, namespace: str) -> list[SearchAttributeKey[str]]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return [
        key
        for key in THREAD_ATTRIBUTES
        if listed.custom_attributes.get(key.name) != indexed_type(key)
    ]


def indexed_type(key: SearchAttributeKey[str]) -> IndexedValueType.ValueType:
    """The SDK's enum and the API's share their numbers."""
    return IndexedValueType.ValueType(int(key.indexed_value_type))


def missing_attributes(missing: list[SearchAttributeKey[str]], namespace: str) -> str:
    names = ", ".join(f"{key.name} ({attribute_type(key)})" for key in missing)
    return (
        f"{SETTING}: namespace {namespace} lacks the search attributes {names} that threads "
        f"set: create them with {create_commands(missing, namespace)}, "
        f"or set {SETTING}=false"
    )


def create_commands(missing: list[SearchAttributeKey[str]], namespace: str) -> str:
    """One `temporal operator search-attribute create` per type (it takes one --type)."""
    commands = []
    for kind in sorted({attribute_type(key) for key in missing}):
        names = " ".join(f"--name {key.name}" for key in missing if attribute_type(key) == kind)
        commands.append(
            f"`temporal operator search-attribute create --namespace {namespace} "
            f"{names} --type {kind}`"
        )
    return " and ".join(commands)
