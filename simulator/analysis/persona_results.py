"""What persona tests find (``personas``): the decision the kernel took for a persona, play by
play, and each expected outcome judged against it (``judge``), with what was decided instead.
Plain values: nothing here runs a kernel."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.kernels import common as k
from strategy_dsl.diagnostics import Span
from strategy_dsl.errors import StratmapError
from strategy_dsl.model import Outcome

WON = "won"
NOT_CANDIDATE = "not a candidate"
# The kernel's play statuses in the words of `suppressed PLAY by REASON` (budget and capacity
# never stop one persona: NEVER_FOR_A_PERSONA).
REASON_OF_STATUS = k.REASON_OF_STATUS
# Reasons that exist in a simulation but never for one persona, and why.
NEVER_FOR_A_PERSONA = {
    "holdout": "a persona is in the treatment arm and outside every holdout",
    "control": "a persona is in the treatment arm, never in the control group",
    "capacity": "channel capacity is shared by many customers and never binds for one",
    "budget": "a play's budget is shared by many customers and never binds for one",
}


class PersonaError(StratmapError):
    """Personas that cannot be run at all: a message for a person and a hint to fix it."""


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class PlayDecision:
    """What the decision kernel did with one play (a rule, or one wave of a journey)."""

    play: str  # the play as the simulator names it: a rule, or "JOURNEY wave N"
    owner: str  # the rule or journey an outcome names
    channel: str
    status: str  # WON, NOT_CANDIDATE, or the suppression reason (REASON_OF_STATUS)

    @property
    def candidate(self) -> bool:
        return self.status != NOT_CANDIDATE

    def describe(self) -> str:
        if self.status == WON:
            return f"{self.play} won via {self.channel}"
        if self.status == NOT_CANDIDATE:
            return f"{self.play} was not a candidate"
        return f"{self.play} was suppressed by {self.status}"


@dataclass(frozen=True)
class Decision:
    """The whole decision for one persona: every play's status and the facts the kernel saw."""

    plays: tuple[PlayDecision, ...]
    tier: str
    segments: tuple[str, ...]
    triggers: tuple[str, ...]
    journeys: tuple[str, ...]  # journeys running (entered now or earlier)
    alive: bool

    @property
    def winners(self) -> tuple[PlayDecision, ...]:
        return tuple(p for p in self.plays if p.status == WON)

    def of(self, owner: str) -> tuple[PlayDecision, ...]:
        return tuple(p for p in self.plays if p.owner == owner)

    def got(self) -> str:
        """What the persona got, as a phrase: "got A via X and B via Y" or "got nothing"."""
        if not self.alive:
            return "got nothing (the persona has churned)"
        won = [f"{p.play} via {p.channel}" for p in self.winners]
        return "got " + (" and ".join(won) if won else "nothing")

    def context(self) -> str:
        """The facts that decide candidacy, for a play that was not a candidate."""
        segments = ", ".join(self.segments) or "none"
        triggers = ", ".join(self.triggers) or "none"
        return f"tier {self.tier}; segments: {segments}; triggers fired: {triggers}"

    def explain(self, owner: str) -> str:
        parts = [p.describe() for p in self.of(owner)]
        text = "; ".join(parts)
        if any(not p.candidate for p in self.of(owner)):
            text += f" ({self.context()})"
        return text

    def statuses(self) -> dict[str, str]:
        """Play → status, for every play that was a candidate."""
        return {p.play: p.status for p in self.plays if p.candidate}


@dataclass(frozen=True)
class OutcomeResult:
    outcome: Outcome
    passed: bool
    message: str  # what the strategy decided (on failure: instead of what was expected)

    @property
    def text(self) -> str:
        return outcome_text(self.outcome)


@dataclass(frozen=True)
class PersonaResult:
    name: str
    span: Span
    outcomes: tuple[OutcomeResult, ...]
    decision: Decision | None  # None when the persona could not be built (``error``)
    warnings: tuple[str, ...] = ()
    error: str | None = None  # a fact the simulator cannot represent

    @property
    def passed(self) -> bool:
        return self.error is None and all(o.passed for o in self.outcomes)

    @property
    def candidates(self) -> frozenset[str]:
        """Rules and journeys this persona was a candidate for (suppressed or not)."""
        plays = self.decision.plays if self.decision else ()
        return frozenset(p.owner for p in plays if p.candidate)

    @property
    def won(self) -> frozenset[str]:
        plays = self.decision.plays if self.decision else ()
        return frozenset(p.owner for p in plays if p.status == WON)


@dataclass(frozen=True)
class PlayCoverage:
    """Which personas reached a rule or journey: as a candidate at all, and as a winner."""

    owner: str
    kind: str  # rule | journey
    candidate_for: tuple[str, ...]
    won_for: tuple[str, ...]


def outcome_text(outcome: Outcome) -> str:
    """An outcome as written in the persona: `gets 临界提升 via 外呼`, `never X`, …"""
    if outcome.kind == "nothing":
        return "gets nothing"
    if outcome.kind == "gets":
        return f"gets {outcome.play}" + (f" via {outcome.channel}" if outcome.channel else "")
    if outcome.kind == "never":
        return f"never {outcome.play}"
    return f"suppressed {outcome.play} by {outcome.reason}"


# ------------------------------------------------------------------------------ judging


def judge(outcome: Outcome, decision: Decision) -> OutcomeResult:
    """Whether ``decision`` is what ``outcome`` expects, with what was decided instead."""
    got = decision.got()
    if outcome.kind == "nothing":
        return OutcomeResult(outcome, not decision.winners, got)
    owner = str(outcome.play)
    mine = decision.of(owner)
    won = [p for p in mine if p.status == WON]
    if outcome.kind == "gets":
        via = [p for p in won if outcome.channel is None or p.channel == outcome.channel]
        if via:
            return OutcomeResult(outcome, True, got)
        if won:
            channels = ", ".join(sorted({p.channel for p in won}))
            return OutcomeResult(
                outcome, False, f"{got}: {owner} came via {channels}, not {outcome.channel}"
            )
        return OutcomeResult(outcome, False, f"{got}; {decision.explain(owner)}")
    if outcome.kind == "never":
        if won:
            return OutcomeResult(outcome, False, got)
        return OutcomeResult(outcome, True, f"{got}; {decision.explain(owner)}")
    reason = str(outcome.reason)
    if any(p.status == reason for p in mine):
        return OutcomeResult(outcome, True, f"{got}; {decision.explain(owner)}")
    why = NEVER_FOR_A_PERSONA.get(reason)
    prefix = f"{why}, so `{reason}` cannot happen; " if why else ""
    return OutcomeResult(outcome, False, f"{prefix}{got}; {decision.explain(owner)}")
