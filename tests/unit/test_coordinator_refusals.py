"""Which refusals of a daemon's update the coordinator adapter asks again (the busy ones)
and which it raises at once. The busy refusals themselves are made on a real server in
tests/workflows/test_coordinator_busy.py; these are the ones that must not be retried."""

from __future__ import annotations

import asyncio

from google.protobuf.any_pb2 import Any as AnyDetail
from google.protobuf.message import Message
from temporalio.api.common.v1 import GrpcStatus
from temporalio.api.errordetails.v1 import (
    MultiOperationExecutionFailure,
    NamespaceNotFoundFailure,
    WorkflowNotReadyFailure,
)
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from adapters.outbound.temporal_coordinator import busy_refusal, is_busy_refusal


def refusal(status: RPCStatusCode, *details: Message, in_multi_operation: bool = True) -> RPCError:
    packed = []
    for detail in details:
        any_detail = AnyDetail()
        any_detail.Pack(detail)
        packed.append(any_detail)
    outer = GrpcStatus(code=status.value, message="refused", details=packed)
    if in_multi_operation:  # update-with-start's shape: the update's status inside
        failure = MultiOperationExecutionFailure(
            statuses=[
                MultiOperationExecutionFailure.OperationStatus(
                    code=status.value, message="refused", details=packed
                )
            ]
        )
        wrapped = AnyDetail()
        wrapped.Pack(failure)
        outer = GrpcStatus(code=status.value, message="refused", details=[wrapped])
    return RPCError("refused", status, outer.SerializeToString())


def test_a_workflow_task_being_retried_is_a_busy_refusal() -> None:
    assert is_busy_refusal(refusal(RPCStatusCode.FAILED_PRECONDITION, WorkflowNotReadyFailure()))
    assert is_busy_refusal(
        refusal(
            RPCStatusCode.FAILED_PRECONDITION, WorkflowNotReadyFailure(), in_multi_operation=False
        )
    )


def test_the_in_flight_limit_and_an_aborted_update_are_busy_refusals() -> None:
    assert is_busy_refusal(refusal(RPCStatusCode.RESOURCE_EXHAUSTED))
    assert is_busy_refusal(refusal(RPCStatusCode.UNAVAILABLE))


def test_other_refusals_are_raised_at_once() -> None:
    assert not is_busy_refusal(refusal(RPCStatusCode.FAILED_PRECONDITION))
    assert not is_busy_refusal(refusal(RPCStatusCode.NOT_FOUND, NamespaceNotFoundFailure()))
    assert not is_busy_refusal(refusal(RPCStatusCode.INVALID_ARGUMENT))
    assert not is_busy_refusal(refusal(RPCStatusCode.PERMISSION_DENIED))


def test_a_call_the_server_cut_off_is_asked_again_but_not_one_this_task_cancelled() -> None:
    """CI: `RPCError: operation was canceled` under update-with-start, which temporalio
    raises as WorkflowUpdateRPCTimeoutOrCancelledError caused by the RPCError."""
    cut_off = WorkflowUpdateRPCTimeoutOrCancelledError()
    cut_off.__cause__ = RPCError("operation was canceled", RPCStatusCode.CANCELLED, b"")
    assert busy_refusal(cut_off) is cut_off.__cause__
    cancelled_here = WorkflowUpdateRPCTimeoutOrCancelledError()
    cancelled_here.__cause__ = asyncio.CancelledError()
    assert busy_refusal(cancelled_here) is None
    assert busy_refusal(refusal(RPCStatusCode.INVALID_ARGUMENT)) is None
    busy = refusal(RPCStatusCode.RESOURCE_EXHAUSTED)
    assert busy_refusal(busy) is busy
