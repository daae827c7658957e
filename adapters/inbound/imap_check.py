"""`mailroom imap --check`: log in to a source and say what the adapter would find there."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.inbound.imap_checkpoint import Checkpoint, Quarantined
from adapters.inbound.imap_session import REPORTED_CAPABILITIES, ImapSession
from adapters.inbound.imap_source import After, ImapSource


@dataclass
class SourceReport:
    source: ImapSource
    error: str | None = None
    capabilities: dict[str, bool] = field(default_factory=dict)
    uidvalidity: int | None = None
    messages: int | None = None
    pending: int | None = None
    move_folder_exists: bool | None = None
    checkpoint: Checkpoint | None = None
    # Mail the adapter set aside (the most recent ones) and how many in all.
    quarantine_folder: str = ""
    quarantined: list[Quarantined] = field(default_factory=list)
    quarantined_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def lines(self) -> list[str]:
        lines = [f"{self.source.describe()}: {'ok' if self.ok else 'FAILED'}"]
        if self.error:
            return [*lines, f"  error         {self.error}"]
        caps = "  ".join(f"{c} {'yes' if v else 'no'}" for c, v in self.capabilities.items())
        lines.append(f"  capabilities  {caps}")
        waiting = "IDLE" if self.capabilities.get("IDLE") and self.source.idle else "polling"
        lines.append(f"  new mail by   {waiting}")
        lines.append(
            f"  folder        {self.messages} messages, UIDVALIDITY {self.uidvalidity}, "
            f"{self.pending} to ingest"
        )
        if self.checkpoint is None:
            lines.append(f"  checkpoint    none yet (first start: start={self.source.start})")
        else:
            stale = " (UIDVALIDITY changed: will rescan)" if self._stale else ""
            lines.append(f"  checkpoint    last UID {self.checkpoint.last_uid}{stale}")
        if self.source.after is After.MOVE:
            exists = "exists" if self.move_folder_exists else "missing (will be created)"
            lines.append(f"  move to       {self.source.move_to}: {exists}")
        return [*lines, *self._quarantine_lines()]

    def _quarantine_lines(self) -> list[str]:
        if not self.quarantined_count:
            return [f"  quarantined   none (would go to {self.quarantine_folder})"]
        shown = f", latest {len(self.quarantined)}" if self.quarantined_count > 1 else ""
        lines = [f"  quarantined   {self.quarantined_count} messages{shown}:"]
        return [*lines, *(f"    {record.line()}" for record in self.quarantined)]

    @property
    def _stale(self) -> bool:
        return self.checkpoint is not None and self.checkpoint.uidvalidity != self.uidvalidity


def check_source(source: ImapSource, checkpoint: Checkpoint | None) -> SourceReport:
    """Blocking: run it in a thread. Never raises; a failure is in the report."""
    report = SourceReport(source=source, checkpoint=checkpoint)
    session = ImapSession(source)
    try:
        session.open()
        report.capabilities = {c: session.has(c) for c in REPORTED_CAPABILITIES}
        if source.move_to:
            report.move_folder_exists = bool(session.client.folder_exists(source.move_to))
        state = session.select()
        report.uidvalidity = state.uidvalidity
        report.messages = state.exists
        last_uid = 0
        if checkpoint is not None and checkpoint.uidvalidity == state.uidvalidity:
            last_uid = checkpoint.last_uid
        elif checkpoint is None and source.start == "new":
            last_uid = state.uidnext - 1
        report.pending = len(session.uids_after(last_uid, source.start_date))
    except Exception as exc:
        report.error = f"{type(exc).__name__}: {exc}"
    finally:
        session.close()
    return report
