"""The pure deadline engine: a case's event history in, its statutory milestones out.

No I/O and no service imports, so it can be tested exhaustively and replayed. The result
depends only on the *set* of events (deduplicated by id, corrections applied, then
sorted by ``(on, rank of type, id)``), ``today``, the LA's settings and school closures.
Every length, unit and citation comes from ``rules.RULES``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import working_days as wd
from .rules import (
    ADVISERS,
    LIMB_ABSENCE,
    LIMB_ALIASES,
    LIMB_EARLY_YEARS_CLOSURE,
    LIMB_SCHOOL_CLOSURE,
    RULES_BY_ID,
    TRIBUNAL_ORDER_ALIASES,
    TRIBUNAL_ORDERS,
    UNOPPOSED_RULES,
    Party,
    Rule,
    Unit,
)

# Event types in their natural order within one day: the index is the tie-break rank
# when two events share a date (a request precedes its decision, a trigger its answer,
# a closing event comes last). The referrals service validates against this tuple.
CASE_EVENT_TYPES: tuple[str, ...] = (
    "request_received",
    "transferred_in",
    "reassessment_requested",
    "move_notified",
    "exception_started",
    "exception_ended",
    "tribunal_order",
    "decision_to_assess",
    "reassessment_decided",
    "advice_requested",
    "advice_received",
    "decision_not_to_issue",
    "draft_plan_issued",
    "draft_response_received",
    "school_consulted",
    "school_response_received",
    "final_plan_issued",
    "phase_transfer",
    "review_meeting_scheduled",
    "review_invitations_sent",
    "review_advice_circulated",
    "review_meeting_held",
    "review_report_sent",
    "review_decision",
    "amendments_proposed",
    "amendments_response_received",
    "amended_plan_issued",
    "decision_not_to_amend",
    "decision_notice_sent",
    "mediation_contacted",
    "mediation_declined",
    "mediation_requested",
    "mediation_held",
    "mediation_certificate_issued",
    "appeal_lodged",
    "tribunal_order_complied",
    "transfer_notice_sent",
    "cease_decision",
    "withdrawn",
    "transferred_out",
)
_RANK = {t: i for i, t in enumerate(CASE_EVENT_TYPES)}

STATUSES = ("pending", "met", "late", "breached", "exception", "not_applicable")
ALERT_KINDS = ("approaching", "due", "breached")

_LONDON = ZoneInfo("Europe/London")

# Milestones of the assessment itself: a refusal, a decision not to issue or a
# restarted clock (T4) closes those still open.
_ASSESSMENT_RULES = frozenset({"A1", "A2", "A3", "A4", "A5", "A6", "T4d", "T4n", "T4"})
_ASSESSMENT_CLOCKS = frozenset({"A1", "A3", "A6", "T4d", "T4n", "T4"})
_NO_PLAN_RULES = frozenset({"A3", "T4n", "TO-NO-PLAN", "U-NO-PLAN"})
_PLAN_RULES = frozenset({"A6", "T4", "TO-PLAN-AFTER-ASSESS", "U-PLAN-AFTER-ASSESS"})
_REVIEW_CYCLE_RULES = frozenset({"R1", "R1u", "T3"})
_CONTINUE_RULES = frozenset({"TO-CONTINUE", "U-CONTINUE"})
# Family and mediation windows belong to an appeal right, which survives a cease decision.
_APPEAL_PARTIES = frozenset({Party.FAMILY, Party.MEDIATION})


@dataclass(frozen=True)
class CaseEvent:
    id: str
    type: str
    on: date
    data: Mapping[str, Any] = field(default_factory=dict)
    received_at: datetime | None = None
    corrects: str | None = None  # id of an earlier event whose date/data this one replaces


@dataclass(frozen=True)
class Closure:
    """A school closed from ``starts_on`` to ``ends_on`` inclusive (reopens ends_on + 1).

    ``school_urn`` None means every school of the LA (term dates).
    """

    school_urn: str | None
    starts_on: date
    ends_on: date

    @property
    def days(self) -> int:
        return (self.ends_on - self.starts_on).days + 1


@dataclass(frozen=True)
class AlertOffset:
    """One alert relative to the (adjusted) due date: negative = before."""

    kind: str  # approaching | due | breached
    offset: int
    unit: str = "working_days"  # working_days | days


DEFAULT_ALERT_OFFSETS: tuple[AlertOffset, ...] = (
    AlertOffset("approaching", -10, "working_days"),
    AlertOffset("approaching", -5, "working_days"),
    AlertOffset("due", 0, "days"),
    AlertOffset("breached", 1, "days"),
)


@dataclass(frozen=True)
class LaSettings:
    # IPSEA guidance: a request after 17:00 or on a non-working day counts from the next
    # working day. Off by default: the clock runs from the date given.
    next_working_day_receipt: bool = False
    receipt_cutoff: time = time(17, 0)
    alert_offsets: tuple[AlertOffset, ...] = DEFAULT_ALERT_OFFSETS
    # Per-milestone overrides: key is a milestone name ("advice:health"), its prefix
    # ("advice") or a rule id ("A6"); the first match in that order wins.
    milestone_alert_offsets: tuple[tuple[str, tuple[AlertOffset, ...]], ...] = ()
    # Where the law reads two ways, the LA chooses (docs/decisions.md gives the defaults):
    # Reg 18(1) says "before 15 February" / "before 31 March", the Code of Practice "by".
    phase_transfer_reading: str = "by"  # "by" (15 Feb) | "before" (14 Feb, literal)
    # CFA s44(1): "the period of 12 months starting with" the plan or review date ends the
    # day before its anniversary (literal); in practice the anniversary itself is used.
    review_period_reading: str = "anniversary"  # "anniversary" | "starting_with" (literal)
    # The next review runs from the review meeting, or from the LA's decision after it.
    review_clock_from: str = "meeting"  # "meeting" | "decision"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> LaSettings:
        """Build from stored JSON, e.g. ``{"next_working_day_receipt": true,
        "alert_offsets": [{"kind": "approaching", "offset": -10, "unit": "working_days"}],
        "milestone_alert_offsets": {"final_plan": [...]}}``. Missing keys keep defaults."""
        d = d or {}

        def offsets(items: Iterable[Mapping[str, Any]]) -> tuple[AlertOffset, ...]:
            return tuple(
                AlertOffset(str(a["kind"]), int(a["offset"]), str(a.get("unit", "working_days")))
                for a in items
            )

        kwargs: dict[str, Any] = {}
        if "next_working_day_receipt" in d:
            kwargs["next_working_day_receipt"] = bool(d["next_working_day_receipt"])
        if d.get("receipt_cutoff"):
            kwargs["receipt_cutoff"] = time.fromisoformat(str(d["receipt_cutoff"]))
        if d.get("alert_offsets"):
            kwargs["alert_offsets"] = offsets(d["alert_offsets"])
        for key in ("phase_transfer_reading", "review_period_reading", "review_clock_from"):
            if d.get(key):
                kwargs[key] = str(d[key])
        if d.get("milestone_alert_offsets"):
            kwargs["milestone_alert_offsets"] = tuple(
                sorted((str(k), offsets(v)) for k, v in d["milestone_alert_offsets"].items())
            )
        return cls(**kwargs)

    def offsets_for(self, milestone: str, rule_id: str) -> tuple[AlertOffset, ...]:
        overrides = dict(self.milestone_alert_offsets)
        for key in (milestone, milestone.split(":", 1)[0], rule_id):
            if key in overrides:
                return overrides[key]
        return self.alert_offsets


@dataclass(frozen=True)
class Milestone:
    milestone: str
    rule: str
    regulation: str
    due_on: date
    adjusted_due_on: date | None
    status: str
    met_on: date | None
    exception_days: int


# --------------------------------------------------------------------------------------
# Event normalisation: dedupe, corrections, order
# --------------------------------------------------------------------------------------


def _canonical(e: CaseEvent) -> tuple:
    # A total order on events that ignores arrival order (for picking among duplicates).
    return (
        e.on,
        _RANK.get(e.type, len(_RANK)),
        e.id,
        e.type,
        repr(sorted((str(k), repr(v)) for k, v in e.data.items())),
        e.received_at.isoformat() if e.received_at else "",
        e.corrects or "",
    )


def normalise_events(events: Iterable[CaseEvent]) -> list[CaseEvent]:
    """Dedupe by id, apply corrections, sort by (on, rank, id); unknown types dropped."""
    by_id: dict[str, CaseEvent] = {}
    for e in events:
        e = _coerce(e)
        kept = by_id.get(e.id)
        if kept is None or _canonical(e) < _canonical(kept):
            by_id[e.id] = e

    corrections = {i: e for i, e in by_id.items() if e.corrects is not None}
    originals = {i: e for i, e in by_id.items() if e.corrects is None}

    def root(e: CaseEvent) -> str | None:
        seen: set[str] = set()
        while e.corrects is not None:
            if e.corrects in seen:  # a cycle of corrections: ignore them all
                return None
            seen.add(e.corrects)
            target = by_id.get(e.corrects)
            if target is None:
                return None  # correction of an unknown event: nothing to correct (yet)
            e = target
        return e.id

    # Several corrections of one event: the latest recorded (received_at, then id) wins;
    # a correction of a correction is later than what it corrects.
    chains: dict[str, list[CaseEvent]] = {}
    for c in corrections.values():
        r = root(c)
        if r is not None:
            chains.setdefault(r, []).append(c)
    result: list[CaseEvent] = []
    for oid, orig in originals.items():
        fixes = chains.get(oid)
        if fixes:
            fixes.sort(key=lambda c: (_depth(c, by_id), c.received_at or datetime.min, c.id))
            data = dict(orig.data)
            for c in fixes:
                data.update(c.data)
            last = fixes[-1]
            orig = replace(
                orig,
                on=last.on,
                data=data,
                received_at=last.received_at or orig.received_at,
            )
        if orig.type in _RANK:
            result.append(orig)
    result.sort(key=lambda e: (e.on, _RANK[e.type], e.id))
    return result


def _coerce(e: CaseEvent) -> CaseEvent:
    """Accept ISO strings from JSON payloads for the dates, and None for data."""
    on, received_at, data = e.on, e.received_at, e.data
    if isinstance(on, datetime):
        on = on.date()
    elif isinstance(on, str):
        on = date.fromisoformat(on[:10])
    if isinstance(received_at, str):
        received_at = datetime.fromisoformat(received_at)
    if data is None:
        data = {}
    if (on, received_at, data) == (e.on, e.received_at, e.data):
        return e
    return replace(e, on=on, received_at=received_at, data=data)


def _depth(e: CaseEvent, by_id: Mapping[str, CaseEvent]) -> int:
    n = 0
    while e.corrects is not None and e.corrects in by_id and n < len(by_id):
        e = by_id[e.corrects]
        n += 1
    return n


# --------------------------------------------------------------------------------------
# Due-date arithmetic
# --------------------------------------------------------------------------------------


def due_date(r: Rule, start: date, *, year: int | None = None) -> date:
    """The statutory date of rule ``r`` for a clock starting on ``start``."""
    if r.unit is Unit.DAYS:
        return start + timedelta(days=r.offset)
    if r.unit is Unit.DAYS_BEGINNING_WITH:
        return start + timedelta(days=r.offset - 1)
    if r.unit is Unit.WEEKS:
        return start + timedelta(weeks=r.offset)
    if r.unit is Unit.MONTHS:
        return wd.add_months(start, r.offset)
    if r.unit is Unit.WORKING_DAYS:
        return wd.add_working_days(start, r.offset)
    if r.unit is Unit.WORKING_DAYS_BEGINNING_WITH:
        return wd.nth_working_day_beginning_with(start, r.offset)
    if r.unit is Unit.FIXED_DATE:
        assert r.fixed_month is not None and r.fixed_day is not None
        return date(year if year is not None else start.year, r.fixed_month, r.fixed_day)
    if r.unit is Unit.IMMEDIATE:
        return start
    raise ValueError(f"unknown unit {r.unit}")


def effective_receipt(e: CaseEvent, settings: LaSettings) -> date:
    """Date the clock starts for a request (IPSEA after-17:00 guidance as an LA setting)."""
    if not settings.next_working_day_receipt:
        return e.on
    late = False
    if e.received_at is not None:
        local = e.received_at
        if local.tzinfo is not None:
            local = local.astimezone(_LONDON)
        late = local.time() >= settings.receipt_cutoff
    if late or not wd.is_working_day(e.on):
        return wd.next_working_day(e.on)
    return e.on


# --------------------------------------------------------------------------------------
# The replay
# --------------------------------------------------------------------------------------


@dataclass
class _Instance:
    rule: Rule
    name: str
    key: str | None
    start: date  # when the clock started (exceptions must fall in [start, due])
    due: date
    seq: int
    met_on: date | None = None
    closed_on: date | None = None
    trigger_id: str = ""
    subject: str | None = None  # school URN for auto-detected closures, etc.
    # A family window cut short: the plan was issued inside it with no response recorded.
    cut_short_on: date | None = None

    @property
    def open(self) -> bool:
        return self.met_on is None and self.closed_on is None


@dataclass
class _Exception:
    limb: str
    starts_on: date
    ends_on: date | None  # exclusive: first day the circumstance no longer applies
    adviser: str | None = None
    milestone: str | None = None


class _Replay:
    def __init__(self, settings: LaSettings, closures: Sequence[Closure]) -> None:
        self.settings = settings
        self.closures = closures
        self.instances: list[_Instance] = []
        self.exceptions: dict[str, _Exception] = {}
        self.school_advice: list[tuple[date, str, str | None]] = []  # (on, adviser, urn)
        self.clock_start: date | None = None  # the assessment clock (A or T4)
        self.clock_rules: tuple[str, str, str] = ("A1", "A3", "A6")
        self.last_plan_or_review: date | None = None
        self.date_of_birth: date | None = None
        self.has_plan = False
        self.just_met: list[_Instance] = []

    # -- helpers -------------------------------------------------------------------------
    def open_rule(
        self,
        rule_id: str,
        e: CaseEvent,
        start: date | None = None,
        *,
        due: date | None = None,
        key: str | None = None,
        subject: str | None = None,
    ) -> _Instance:
        r = RULES_BY_ID[rule_id]
        start = e.on if start is None else start
        name = f"{r.milestone}:{key}" if key and r.id in ("A2", "A5") else r.milestone
        inst = _Instance(
            rule=r,
            name=name,
            key=key,
            start=start,
            due=due if due is not None else due_date(r, start),
            seq=len(self.instances),
            trigger_id=e.id,
            subject=subject,
        )
        self.instances.append(inst)
        return inst

    def open_instances(self, rule_ids: Iterable[str]) -> list[_Instance]:
        ids = set(rule_ids)
        return [i for i in self.instances if i.open and i.rule.id in ids]

    def close(self, insts: Iterable[_Instance], on: date) -> None:
        for i in insts:
            if i.open:
                i.closed_on = on

    def meet(self, e: CaseEvent) -> list[_Instance]:
        """Mark as met every open instance whose rule is met by this event type."""
        met: list[_Instance] = []
        for i in self.instances:
            if not i.open or e.type not in i.rule.met_by:
                continue
            if i.rule.id == "A2" and _adviser(e.data) != i.key:
                continue
            if i.rule.id == "A5":
                urn = _urn(e.data)
                if i.key is not None and urn is not None and urn != i.key:
                    continue
            if e.type == "tribunal_order_complied":
                target = e.data.get("order_event_id")
                if target is not None and target != i.trigger_id:
                    continue
            i.met_on = e.on
            met.append(i)
        return met

    # -- handlers ------------------------------------------------------------------------
    def apply(self, e: CaseEvent) -> None:
        handler = getattr(self, f"on_{e.type}", None)
        self.just_met = self.meet(e) if e.type != "request_received" else []
        if handler is not None:
            handler(e)

    def _start_assessment(self, e: CaseEvent, start: date, rules: tuple[str, str, str]) -> None:
        self.close(self.open_instances(_ASSESSMENT_CLOCKS), e.on)
        self.clock_start = start
        self.clock_rules = rules
        self.open_rule(rules[0], e, start)
        self.open_rule(rules[2], e, start)

    def on_request_received(self, e: CaseEvent) -> None:
        dob = e.data.get("date_of_birth")
        if dob:
            self.date_of_birth = _as_date(dob)
        self._start_assessment(e, effective_receipt(e, self.settings), ("A1", "A3", "A6"))

    def on_transferred_in(self, e: CaseEvent) -> None:
        stage = e.data.get("stage")
        plan_dates = [
            _as_date(e.data[k]) for k in ("plan_made_on", "last_reviewed_on") if e.data.get(k)
        ]
        if stage is None:
            stage = "plan" if (plan_dates or self.has_plan) else "assessment"
        if stage == "plan":
            # T1-T3: the plan comes with the child; the old LA's review clock is replaced.
            self.close(self.open_instances(_REVIEW_CYCLE_RULES), e.on)
            self.has_plan = True
            self.open_rule("T2", e)
            base = max(plan_dates) if plan_dates else self.last_plan_or_review
            due = wd.add_months(e.on, 3)
            if base is not None:
                due = max(due, wd.add_months(base, 12))
            self.open_rule("T3", e, due=due)
            return
        # T4: a move during an assessment restarts the clocks when the new LA becomes
        # responsible. If the old LA had already decided to assess, the new LA's
        # decision milestone is replaced by the 16-week "no plan" one.
        decided = bool(e.data.get("decided_to_assess")) or any(
            i.rule.id in ("A1", "T4d") and i.met_on is not None for i in self.instances
        )
        self.close(self.open_instances(_ASSESSMENT_CLOCKS), e.on)
        self.clock_start = e.on
        self.clock_rules = ("T4d", "T4n", "T4")
        if decided:
            self.open_rule("T4n", e)
        else:
            self.open_rule("T4d", e)
        self.open_rule("T4", e)

    def on_decision_to_assess(self, e: CaseEvent) -> None:
        answered = any(i.rule.id in ("A1", "T4d") for i in self.just_met)
        outcome = str(e.data.get("outcome", "assess")).lower()
        if outcome in ("refuse", "refused", "no", "not_assess"):
            self.close(self.open_instances(_ASSESSMENT_RULES), e.on)
            return
        if answered and self.clock_start is not None:
            # Reg 10(1): 16 weeks from the request (or from the new LA's responsibility).
            rid = self.clock_rules[1]
            if not self.open_instances((rid,)):
                self.open_rule(rid, e, self.clock_start)

    def on_advice_requested(self, e: CaseEvent) -> None:
        adviser = _adviser(e.data)
        if not any(i.key == adviser for i in self.open_instances(("A2",))):
            self.open_rule("A2", e, key=adviser, subject=_urn(e.data))
        if adviser in ("school", "early_years"):
            self.school_advice.append((e.on, adviser, _urn(e.data)))

    def on_decision_not_to_issue(self, e: CaseEvent) -> None:
        # After a reassessment (Reg 27) the existing plan continues: the 14 weeks close,
        # the review cycle runs on.
        self.close(self.open_instances(_ASSESSMENT_RULES | _PLAN_RULES | {"RA2"}), e.on)

    def on_draft_plan_issued(self, e: CaseEvent) -> None:
        # Issuing a draft is deciding to issue: the "no plan" notice no longer applies.
        self.close(self.open_instances(_NO_PLAN_RULES), e.on)
        self.open_rule("A4", e)

    def on_school_consulted(self, e: CaseEvent) -> None:
        urn = _urn(e.data)
        if not any(i.key == urn for i in self.open_instances(("A5",))):
            self.open_rule("A5", e, key=urn)

    def _cut_short(self, rule_id: str, e: CaseEvent) -> None:
        """A plan issued while the family's 15 days still run and no response was recorded:
        flag the window (Reg 13(1)(a) for a draft, Reg 22(2)(c) for amendments)."""
        for i in self.open_instances((rule_id,)):
            if e.on <= i.due:
                i.cut_short_on = e.on
                i.closed_on = e.on

    def on_amended_plan_issued(self, e: CaseEvent) -> None:
        self._cut_short("R5a", e)

    def on_final_plan_issued(self, e: CaseEvent) -> None:
        self._cut_short("A4", e)
        self.close(self.open_instances(_NO_PLAN_RULES), e.on)
        # A new plan restarts the review cycle (CFA s44(1)).
        self.close(self.open_instances(_REVIEW_CYCLE_RULES), e.on)
        self.has_plan = True
        self._open_review_cycle(e)

    def _review_due(self, start: date) -> date:
        """CFA s44(1): 12 months from the plan or the last review, as the LA reads it."""
        due = wd.add_months(start, 12)
        return due - _DAY if self.settings.review_period_reading == "starting_with" else due

    def _open_review_cycle(self, e: CaseEvent) -> None:
        self.last_plan_or_review = e.on
        self.open_rule("R1", e, due=self._review_due(e.on))
        dob = e.data.get("date_of_birth")
        if dob:
            self.date_of_birth = _as_date(dob)
        if self.date_of_birth is not None and wd.add_months(self.date_of_birth, 60) > e.on:
            self.open_rule("R1u", e)  # CoP 9.178: under-5s reviewed every 3-6 months

    def on_phase_transfer(self, e: CaseEvent) -> None:
        if e.data.get("year_group") == 10:
            return  # Reg 2(1): a move into Year 10 is not a transfer between phases
        self.close(self.open_instances(("R6", "R6p", "R6q")), e.on)
        to_phase = str(e.data.get("to_phase", "secondary")).lower().replace("-", "")
        transfer_on = e.data.get("transfer_on")
        if to_phase in ("post16_to_post16", "post16post16") and transfer_on:
            self.open_rule("R6q", e, _as_date(transfer_on))
            return
        year = int(e.data.get("transfer_year") or e.on.year)
        rid = "R6p" if to_phase.startswith("post16") else "R6"
        r = RULES_BY_ID[rid]
        due = due_date(r, e.on, year=year)
        if self.settings.phase_transfer_reading == "before":
            due -= _DAY  # Reg 18(1) read literally: finalised *before* 15 Feb / 31 Mar
        self.open_rule(rid, e, due=due)

    def on_review_meeting_scheduled(self, e: CaseEvent) -> None:
        self.close(self.open_instances(("R2", "R2a")), e.on)
        meeting = _as_date(e.data.get("meeting_on") or e.on)
        self.open_rule("R2", e, meeting)
        self.open_rule("R2a", e, meeting)

    def on_review_meeting_held(self, e: CaseEvent) -> None:
        self.close(self.open_instances(_REVIEW_CYCLE_RULES), e.on)
        self.open_rule("R3", e)
        self.open_rule("R4", e)
        self._open_review_cycle(e)

    def on_review_decision(self, e: CaseEvent) -> None:
        if self.settings.review_clock_from == "decision":
            # The review ends with the LA's decision: the next 12 months run from it.
            for i in self.open_instances(("R1",)):
                if i.start == self.last_plan_or_review and i.start <= e.on:
                    i.start, i.due = e.on, self._review_due(e.on)
            self.last_plan_or_review = e.on
        outcome = str(e.data.get("outcome", "maintain")).lower()
        if outcome == "cease":
            self._cease(e)
        elif outcome == "amend":
            # Devon [2022]: the decision to amend comes with the proposed amendments, so
            # the decision notice starts Reg 22's 15 days and 8 weeks.
            self._propose_amendments(e)

    def on_amendments_proposed(self, e: CaseEvent) -> None:
        self._propose_amendments(e)

    def _propose_amendments(self, e: CaseEvent) -> None:
        if self.open_instances(("R5",)):
            return  # the earliest amendment notice of a cycle keeps its 8 weeks
        self.open_rule("R5a", e)
        self.open_rule("R5", e)

    def on_reassessment_requested(self, e: CaseEvent) -> None:
        if not self.open_instances(("RA1",)):
            self.open_rule("RA1", e)

    def on_reassessment_decided(self, e: CaseEvent) -> None:
        outcome = str(e.data.get("outcome", "reassess")).lower()
        if outcome in ("reassess", "assess", "yes"):
            self.open_rule("RA2", e)

    def on_move_notified(self, e: CaseEvent) -> None:
        # Reg 15(2): on the day of the move, or within 15 working days beginning with the
        # day the old LA learned of it when it learned less than that before the move.
        r = RULES_BY_ID["T1"]
        due = due_date(r, e.on)
        if e.data.get("moved_on"):
            due = max(_as_date(e.data["moved_on"]), due)
        self.open_rule("T1", e, due=due)

    def on_transferred_out(self, e: CaseEvent) -> None:
        self.close([i for i in self.instances if i.open], e.on)

    def on_withdrawn(self, e: CaseEvent) -> None:
        self.close([i for i in self.instances if i.open], e.on)

    def on_cease_decision(self, e: CaseEvent) -> None:
        self._cease(e)

    def _cease(self, e: CaseEvent) -> None:
        self.close(
            [i for i in self.instances if i.open and i.rule.party not in _APPEAL_PARTIES],
            e.on,
        )

    def on_decision_notice_sent(self, e: CaseEvent) -> None:
        self.open_rule("M1", e)
        r = RULES_BY_ID["AP"]
        self.open_rule("AP", e, due=wd.appeal_deadline_adjust(due_date(r, e.on)))

    def on_mediation_declined(self, e: CaseEvent) -> None:
        self.open_rule("M2", e)

    def on_mediation_requested(self, e: CaseEvent) -> None:
        if not self.open_instances(("M3",)):
            self.open_rule("M3", e)

    def on_mediation_held(self, e: CaseEvent) -> None:
        self.open_rule("M4", e)

    def on_mediation_certificate_issued(self, e: CaseEvent) -> None:
        # r20(1)(c): 2 months after the notice or 1 month after the certificate, if later.
        for i in self.open_instances(("AP",)):
            base = max(wd.add_months(i.start, 2), wd.add_months(e.on, 1))
            i.due = wd.appeal_deadline_adjust(base)

    def on_tribunal_order(self, e: CaseEvent) -> None:
        order = TRIBUNAL_ORDER_ALIASES.get(str(e.data.get("order", "")).lower())
        if order is None:
            return
        unopposed = e.data.get("unopposed") is True  # Reg 45: from the LA's notice
        for rid in TRIBUNAL_ORDERS[order]:
            if unopposed:
                rid = UNOPPOSED_RULES[rid] if rid in UNOPPOSED_RULES else rid
            inst = self.open_rule(rid, e, key=e.id)
            if rid in _CONTINUE_RULES:
                # The order itself restores the plan (the case is maintained again at
                # once); CFA s44(1) applies to it again: reviewed within 12 months of the
                # plan being made or last reviewed, as if it had never been ceased.
                inst.met_on = e.on
        if order == "continue":
            self._reopen_review_cycle()

    def _reopen_review_cycle(self) -> None:
        """Reopen the review clocks a cease decision closed (their due dates stand)."""
        if self.open_instances(_REVIEW_CYCLE_RULES):
            return
        closed = [
            i
            for i in self.instances
            if i.rule.id in _REVIEW_CYCLE_RULES and i.met_on is None and i.closed_on is not None
        ]
        if closed:
            last = max(i.closed_on for i in closed)
            for i in closed:
                if i.closed_on == last:
                    i.closed_on = None
            self.has_plan = True

    def on_exception_started(self, e: CaseEvent) -> None:
        limb = LIMB_ALIASES.get(str(e.data.get("limb", "")).lower())
        if limb is None:
            return  # "the parent asked us to wait" is not a statutory exception
        xid = str(e.data.get("exception_id") or e.id)
        self.exceptions[xid] = _Exception(
            limb=limb,
            starts_on=e.on,
            ends_on=None,
            adviser=e.data.get("adviser"),
            milestone=e.data.get("milestone"),
        )

    def on_exception_ended(self, e: CaseEvent) -> None:
        xid = e.data.get("exception_id")
        if xid is None:
            # No id: end the most recently started open exception.
            candidates = [k for k, x in self.exceptions.items() if x.ends_on is None]
            if not candidates:
                return
            xid = candidates[-1]
        x = self.exceptions.get(str(xid))
        if x is not None and x.ends_on is None and e.on >= x.starts_on:
            x.ends_on = e.on

    # -- results -------------------------------------------------------------------------
    def _closure_limb_holds(self, x: _Exception, reopens: date) -> bool:
        """A hand-entered limb (a)/(b): the school (early years provider) was closed for at
        least 4 weeks and its advice was asked in the window from one week before the
        closure to one week before it re-opens (Reg 5(4)(a)-(b), 10(4), 13(3), 27(3))."""
        if (reopens - x.starts_on).days < _CLOSURE_MIN_DAYS:
            return False
        adviser = "school" if x.limb == LIMB_SCHOOL_CLOSURE else "early_years"
        return any(
            ad == adviser and x.starts_on - _WEEK <= asked_on <= reopens - _WEEK
            for asked_on, ad, _ in self.school_advice
        )

    def exception_intervals(self, i: _Instance, today: date) -> list[tuple[date, date]]:
        """Half-open [start, end) intervals of exceptions covering instance ``i``."""
        r = i.rule
        if not r.exception_limbs:
            return []
        window_end = min(i.due, i.met_on) if i.met_on is not None else i.due
        out: list[tuple[date, date]] = []
        for x in self.exceptions.values():
            if x.limb not in r.exception_limbs:
                continue
            if x.milestone is not None and x.milestone not in (i.name, r.id):
                continue
            if x.adviser is not None and r.id == "A2" and x.adviser != i.key:
                continue
            end = x.ends_on if x.ends_on is not None else max(today, x.starts_on) + _DAY
            if x.limb == LIMB_ABSENCE and (end - x.starts_on).days < r.absence_min_days:
                # Limb (d): "a continuous period of not less than 4 weeks" (2 under Reg
                # 44(3)); an absence still running counts only once it has lasted that long.
                continue
            if x.limb in _CLOSURE_LIMBS and not self._closure_limb_holds(x, end):
                continue
            if x.starts_on <= window_end and end > i.start:
                out.append((max(x.starts_on, i.start), end))
        # Limbs (a)/(b), detected from closures: advice asked of the school (or early years
        # provider) in the window from one week before a closure of >= 4 weeks to one week
        # before it re-opens.
        for asked_on, adviser, urn in self.school_advice:
            limb = LIMB_SCHOOL_CLOSURE if adviser == "school" else LIMB_EARLY_YEARS_CLOSURE
            if limb not in r.exception_limbs or not (i.start <= asked_on <= window_end):
                continue
            for c in self.closures:
                if c.days < _CLOSURE_MIN_DAYS:
                    continue
                if c.school_urn is None:
                    if limb == LIMB_EARLY_YEARS_CLOSURE:
                        continue  # LA term dates do not bind early years providers
                elif c.school_urn != urn:
                    continue
                reopens = c.ends_on + _DAY
                if c.starts_on - _WEEK <= asked_on <= reopens - _WEEK:
                    out.append((max(c.starts_on, i.start), reopens))
        return out

    def milestones(self, today: date) -> list[Milestone]:
        out: list[Milestone] = []
        for i in self.instances:
            days = (
                0
                if (i.closed_on is not None and i.met_on is None)
                else _union_days(self.exception_intervals(i, today))
            )
            adjusted = i.due + timedelta(days=days) if days else None
            out.append(
                Milestone(
                    milestone=i.name,
                    rule=i.rule.id,
                    regulation=i.rule.regulation,
                    due_on=i.due,
                    adjusted_due_on=adjusted,
                    status=_status(i, today, adjusted),
                    met_on=i.met_on,
                    exception_days=days,
                )
            )
        out.sort(key=lambda m: (m.due_on, m.milestone, m.rule, m.met_on or date.max, m.status))
        return out


_DAY = timedelta(days=1)
_WEEK = timedelta(weeks=1)
_CLOSURE_LIMBS = frozenset({LIMB_SCHOOL_CLOSURE, LIMB_EARLY_YEARS_CLOSURE})
_CLOSURE_MIN_DAYS = 28  # "closed for a continuous period of not less than 4 weeks"


def _status(i: _Instance, today: date, adjusted: date | None) -> str:
    if i.cut_short_on is not None:
        return "breached"  # the LA did not leave the family its window
    if i.met_on is not None:
        if i.met_on <= i.due:
            return "met"
        if adjusted is not None and i.met_on <= adjusted:
            return "exception"  # late against the statutory date, but the limit did not apply
        return "late"
    if i.closed_on is not None:
        return "not_applicable"
    if i.rule.never_breached and today > (adjusted or i.due):
        return "not_applicable"  # the family's window passed, or no such decision was taken
    if adjusted is not None:
        # The working target (statutory date + exception length) can still be missed.
        return "breached" if today > adjusted else "exception"
    return "breached" if today > i.due else "pending"


def _union_days(intervals: list[tuple[date, date]]) -> int:
    total, cur_start, cur_end = 0, None, None
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if cur_end is None or s > cur_end:
            if cur_end is not None:
                total += (cur_end - cur_start).days
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    if cur_end is not None:
        total += (cur_end - cur_start).days
    return total


def _adviser(data: Mapping[str, Any]) -> str:
    adviser = str(data.get("adviser") or "other").lower()
    return adviser if adviser in ADVISERS else "other"


def _urn(data: Mapping[str, Any]) -> str | None:
    urn = data.get("school_urn")
    return None if urn in (None, "") else str(urn)


def _as_date(v: Any) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return date.fromisoformat(str(v)[:10])


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def compute_milestones(
    events: Iterable[CaseEvent],
    today: date,
    settings: LaSettings = LaSettings(),
    closures: Sequence[Closure] = (),
) -> list[Milestone]:
    """Every milestone of a case, recomputed from its whole event history.

    Order-independent: duplicates (same id) and corrections are resolved first, then the
    events are replayed in (on, rank, id) order. Sorted by (due_on, milestone).
    """
    replay = _Replay(settings, tuple(closures))
    for e in normalise_events(events):
        replay.apply(e)
    return replay.milestones(today)


def alert_schedule(m: Milestone, settings: LaSettings) -> list[tuple[str, date]]:
    """(kind, send_on) for the alerts of an open milestone, sorted by date.

    Dates are relative to the adjusted target when an exception applies. Met, late and
    not-applicable milestones get no alerts; family windows get no breach alert (they
    are not LA duties).
    """
    if m.met_on is not None or m.status in ("met", "late", "not_applicable"):
        return []  # met (also late but within an exception): nothing left to warn about
    r = RULES_BY_ID.get(m.rule)
    if r is not None and r.never_breached and m.status == "breached":
        return []  # a family window cut short: shown in lists, nothing left to warn about
    base = m.adjusted_due_on or m.due_on
    out: set[tuple[str, date]] = set()
    for a in settings.offsets_for(m.milestone, m.rule):
        if a.kind == "breached" and r is not None and r.never_breached:
            continue
        if a.unit == "working_days":
            send_on = wd.add_working_days(base, a.offset)
        else:
            send_on = base + timedelta(days=a.offset)
        out.add((a.kind, send_on))
    return sorted(out, key=lambda t: (t[1], ALERT_KINDS.index(t[0]) if t[0] in ALERT_KINDS else 9))
