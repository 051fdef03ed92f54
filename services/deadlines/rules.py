"""Statutory rules as data (stub, grows below)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    milestone: str
    trigger: str
    offset: int
    unit: str
    regulation: str


RULES: tuple[Rule, ...] = (
    Rule("A1", "decision_to_assess", "request_received", 6, "weeks", "Reg 5(1)"),
    Rule("A6", "final_plan", "request_received", 20, "weeks", "Reg 13(2)"),
)
