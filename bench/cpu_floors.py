"""bench.ingest's CPU figures: mailroom's SMTP adapter and worker against bare ones on the
same components, CPU a mail, in the same run.

Each bare pass runs twice: flat out (its own rate, the faster one) and paced at the rate
mailroom's pass reached. Flat out, more signals share a workflow task and more writes share
a trip to a thread than at mailroom's slower rate, which lowers the bare parts' cost a mail:
a floor from those is low. Paced at mailroom's rate, evenly spaced (the least batching
there is; mailroom's clients under back-pressure send in clumps), they batch less than
mailroom did: a floor from those is high. The like-for-like floor lies between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.work import PassWork

if TYPE_CHECKING:
    from bench.ingest import Pass


def cpu_ms_per_mail(measured_pass: Pass, part: str) -> float:
    """A part's CPU per mail in a pass, until the stack came to rest."""
    return measured_pass.settled_cpu.get(part, 0.0) * 1000 / max(measured_pass.mails, 1)


def ratio(mailroom: float, bare: float) -> float:
    return round(mailroom / bare, 2) if bare else 0.0


@dataclass
class BareAdapter:
    """bench.bare_adapter's passes: flat out, and paced at the front end's rate."""

    flat_out: Pass
    at_front_end_rate: Pass


def adapter_figures(full: Pass, front: Pass, bare: BareAdapter) -> dict[str, Any]:
    """mailroom's SMTP adapter against the bare adapter, CPU a mail, same run: flat out with
    the flows, and as the front end (both handing mail to threads that do nothing)."""
    mailroom = cpu_ms_per_mail(full, "smtp")
    front_end = cpu_ms_per_mail(front, "smtp-front")
    floor = cpu_ms_per_mail(bare.flat_out, "smtp-bare")
    paced = cpu_ms_per_mail(bare.at_front_end_rate, "smtp-bare")
    print(
        f"SMTP adapter CPU ms per mail: {mailroom:.2f} flat out, {front_end:.2f} as the front "
        f"end; bare adapter {floor:.2f} flat out, {paced:.2f} at the front end's rate: front "
        f"end {ratio(front_end, floor):.2f}x and {ratio(front_end, paced):.2f}x the bare "
        "adapter's"
    )
    return {
        "bare_adapter_rate": round(bare.flat_out.rate, 1),
        "adapter_cpu_ms_per_mail": {
            "smtp": round(mailroom, 2),
            "front_end": round(front_end, 2),
            "bare": round(floor, 2),
            "bare_at_front_end_rate": round(paced, 2),
        },
        "front_end_cpu_vs_bare": ratio(front_end, floor),
        "front_end_cpu_vs_bare_at_its_rate": ratio(front_end, paced),
    }


def floor_at(
    appending_ms: float,
    answering_ms: float,
    answering_local_activities: float,
    local_activities: float,
) -> float:
    """The bare worker's CPU a mail at `local_activities` a mail: the appending baseline's,
    plus what each local activity cost the answering baseline beyond it (never below the
    appending baseline's: a difference lost in noise counts as nothing)."""
    if answering_local_activities <= 0:
        return appending_ms
    per_local_activity = max(0.0, answering_ms - appending_ms) / answering_local_activities
    return appending_ms + per_local_activity * local_activities


@dataclass
class BareWorker:
    """bench.minimal's appending and answering passes, and the answering one's work."""

    appending: Pass
    answering: Pass
    answering_work: PassWork

    def figures(self, local_activities: float) -> tuple[float, float, float, dict[str, float]]:
        """Appending and answering CPU a mail, the floor at `local_activities` a mail, and
        the answering pass's Temporal work a mail."""
        appending = cpu_ms_per_mail(self.appending, "baseline-worker")
        answering = cpu_ms_per_mail(self.answering, "baseline-worker")
        work = self.answering_work.work.per_mail(self.answering_work.mails)
        floor = floor_at(appending, answering, work["local_activities"], local_activities)
        return appending, answering, floor, work


def worker_figures(
    full: Pass, mailroom_work: PassWork, flat_out: BareWorker, at_mailroom_rate: BareWorker
) -> dict[str, Any]:
    """mailroom's worker against bench.minimal's, CPU a mail, same run: the bare worker that
    only appends (the baseline's), the one that answers each batch by a local activity, and
    that one's cost at mailroom's local activities a mail (the worker's floor); each flat out
    and paced at mailroom's rate."""
    mailroom_ms = cpu_ms_per_mail(full, "worker")
    ours = mailroom_work.work.per_mail(mailroom_work.mails)
    appending, answering, floor, theirs = flat_out.figures(ours["local_activities"])
    paced_appending, paced_answering, paced_floor, paced_work = at_mailroom_rate.figures(
        ours["local_activities"]
    )
    print(
        f"worker CPU ms per mail: {mailroom_ms:.2f} ({ours['local_activities']:.2f} local "
        f"activities, {ours['workflow_tasks']:.2f} workflow tasks a mail); bare worker flat "
        f"out {appending:.2f} appending, {answering:.2f} answering "
        f"({theirs['local_activities']:.2f} local activities, {theirs['workflow_tasks']:.2f} "
        f"workflow tasks a mail), floor {floor:.2f}; at mailroom's rate {paced_appending:.2f}, "
        f"{paced_answering:.2f} ({paced_work['local_activities']:.2f}, "
        f"{paced_work['workflow_tasks']:.2f}), floor {paced_floor:.2f}: mailroom "
        f"{ratio(mailroom_ms, floor):.2f}x and {ratio(mailroom_ms, paced_floor):.2f}x"
    )
    return {
        "answering_baseline_work_per_mail": theirs,
        "answering_baseline_work_per_mail_at_mailroom_rate": paced_work,
        "answering_baseline_rate": round(flat_out.answering.rate, 1),
        "answering_baseline_failed": flat_out.answering.failed + flat_out.answering.missing,
        "worker_cpu_ms_per_mail": {
            "worker": round(mailroom_ms, 2),
            "bare_appending": round(appending, 2),
            "bare_answering": round(answering, 2),
            "bare_at_mailroom_local_activities": round(floor, 2),
            "bare_appending_at_mailroom_rate": round(paced_appending, 2),
            "bare_answering_at_mailroom_rate": round(paced_answering, 2),
            "floor_at_mailroom_rate": round(paced_floor, 2),
        },
        "worker_cpu_vs_bare_answering": ratio(mailroom_ms, answering),
        "worker_cpu_vs_bare_floor": ratio(mailroom_ms, floor),
        "worker_cpu_vs_floor_at_mailroom_rate": ratio(mailroom_ms, paced_floor),
    }
