"""Where a running mailroom serves, recorded in its data directory.

`mailroom up` and `mailroom server` write `<data dir>/instance.json` once they serve and
remove it when they stop. Every other command run with the same data directory reads it, so
a second terminal reaches the service without repeating the first one's MAILROOM_* variables.
A setting given explicitly (environment or mailroom.toml) always wins over the record.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from orchestrator.settings import Settings, parse_host_port
from orchestrator.temporal_tls import tls_enabled

INSTANCE_FILE = "instance.json"
# Settings that name the Temporal endpoint: given explicitly, the record is not used for it.
TEMPORAL_SETTINGS = {"temporal_address", "temporal_port", "temporal_namespace", "temporal_tls"}
SMTP_SETTINGS = {"smtp_host", "smtp_port"}


class Instance(BaseModel):
    pid: int
    started_at: datetime
    temporal_address: str
    embedded: bool
    namespace: str
    tls: bool
    web_ui: str | None
    smtp: str | None
    task_queue: str

    def describe(self) -> str:
        parts = [f"Temporal {self.temporal_address} namespace {self.namespace}"]
        if self.web_ui:
            parts.append(f"web UI {self.web_ui}")
        if self.smtp:
            parts.append(f"SMTP {self.smtp}")
        return ", ".join(parts) + f" (pid {self.pid})"


def instance_path(settings: Settings) -> Path:
    return settings.data_dir / INSTANCE_FILE


def record_instance(settings: Settings, parts: set[str]) -> Instance:
    """Write what this process serves; replaced atomically, so a reader never sees half."""
    s = settings
    instance = Instance(
        pid=os.getpid(),
        started_at=datetime.now(UTC),
        temporal_address=s.temporal_target,
        embedded=s.embedded_temporal,
        namespace=s.temporal_namespace,
        tls=tls_enabled(s),
        web_ui=f"http://127.0.0.1:{s.temporal_ui_port}" if "server" in parts else None,
        smtp=f"{s.smtp_host}:{s.smtp_port}" if "smtp" in parts else None,
        task_queue=s.task_queue,
    )
    path = instance_path(settings)
    partial = path.with_name(f".{INSTANCE_FILE}.{os.getpid()}")
    partial.write_text(instance.model_dump_json(indent=2) + "\n")
    partial.replace(path)
    return instance


def forget_instance(settings: Settings) -> None:
    """Remove the record if it is this process's (a later instance may have replaced it)."""
    found = read_instance(settings)
    if found is not None and found.pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            instance_path(settings).unlink()


def read_instance(settings: Settings) -> Instance | None:
    try:
        return Instance.model_validate_json(instance_path(settings).read_bytes())
    except (OSError, ValidationError):
        return None


def running_instance(settings: Settings) -> Instance | None:
    """The recorded instance, if its process is still alive (a killed one leaves a record)."""
    found = read_instance(settings)
    return found if found is not None and process_alive(found.pid) else None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def settings_for_instance(settings: Settings, instance: Instance, *, smtp: bool) -> Settings:
    """The settings with the recorded endpoint for what was not set explicitly (and its
    SMTP address only with `smtp`)."""
    given = settings.model_fields_set
    update: dict[str, object] = {}
    if not given & TEMPORAL_SETTINGS:
        update["temporal_namespace"] = instance.namespace
        if instance.embedded:
            update["temporal_port"] = parse_host_port(instance.temporal_address)[1]
        else:
            update["temporal_address"] = instance.temporal_address
            update["temporal_tls"] = instance.tls
    if smtp and instance.smtp and not given & SMTP_SETTINGS:
        host, port = parse_host_port(instance.smtp)
        update["smtp_host"], update["smtp_port"] = host, port
    return settings.model_copy(update=update)
