"""A flow's settings, from the worker that runs it (see use_cases.flow_catalogue.FlowSettings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio import activity

from use_cases.flow_catalogue import FlowSettings
from use_cases.models import FlowConfig


class FlowSettingsActivities:
    def __init__(self, config: FlowConfig, own: Mapping[str, dict[str, Any]]) -> None:
        self.config = config  # read once, at the worker's start: a restart applies a change
        self.own = own

    def of(self, flow: str) -> FlowSettings:
        return FlowSettings(config=self.config, own=self.own.get(flow, {}))

    @activity.defn(name="flow_settings")
    async def settings_of(self, flow: str) -> FlowSettings:
        return self.of(flow)
