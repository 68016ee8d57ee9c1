"""intake's batch handlers leave what one event at a time leaves (issue 14, decision 0010).

intake takes ``case.transferred`` (history, and who holds the case: it decides who may
see it) and ``case.overdue`` (history). Two copies of intake, each on its own database,
accept the same cases; then the same generated events reach both, one copy the whole
batch at once and the other record by record: transfers naming an owner or not, the
same event twice, several transfers of one case in one batch, and on Postgres a poison
transfer whose assignee does not fit its column. Every row the events could touch must
be the same, case by case number.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from intake import tables as t
from intake.routes import accept  # the route's own accept
from intake.service import SPEC as INTAKE
from intake.state import state_of
from services.dev.broker import LocalBroker
from shared.events import CaseOverdue, CaseTransferred, Envelope, new_event
from shared.intake import CaseCreate
from tests.support.cases import complaint
from tests.support.postgres import create_database, drop_database
from tests.test_batch_equivalence import SEQ, Copy, Pair, _counts, record

CASES = 4
POISON_ASSIGNEE = "u-" + "x" * 80  # longer than intake.cases.assignee (64): Postgres refuses it


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    broker = LocalBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    yield broker
    broker.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def copies(request: pytest.FixtureRequest, tmp_path: Path, broker: LocalBroker) -> Iterator[tuple[Pair, list[Any]]]:
    names: list[str] = []
    urls: tuple[str | None, str | None] = (None, None)
    if request.param == "postgres":
        (a, url_a), (b, url_b) = create_database(), create_database()
        names, urls = [a, b], (url_a, url_b)
    pair = Pair(INTAKE, tmp_path, urls, broker.bootstrap)
    try:
        ids = [pair.call(_accept_cases(copy)) for copy in pair.copies]
        yield pair, list(zip(*ids, strict=True))
    finally:
        pair.close()
        for name in names:
            drop_database(name)


async def _accept_cases(copy: Copy) -> list[uuid.UUID]:
    """The same cases in the same order: the same case numbers in both copies."""
    async with copy.runtime.db.session() as session:
        for n in range(CASES):
            body = complaint(source_ref=f"LTR-batch-{n}")
            await accept(session, state_of(copy.runtime), CaseCreate.model_validate(body), None)
            await session.commit()  # what the request's session dependency does
        rows = (await session.execute(select(t.cases.c.id).order_by(t.cases.c.case_no))).all()
    return [r.id for r in rows]


events = st.lists(
    st.tuples(
        st.integers(0, CASES - 1),
        st.sampled_from(["assign", "transfer", "escalate", "overdue"]),
        st.sampled_from([None, "u-sz-cl-1", "u-sz-cl-2"]),  # the new assignee
        st.sampled_from([None, "u-sz-cs-1", "u-sz-cs-2"]),  # the owner it names
    ),
    min_size=1,
    max_size=10,
)


def envelope(case_id: uuid.UUID, kind: str, assignee: str | None, owner: str | None) -> Envelope:
    if kind == "overdue":
        now = datetime.now(UTC).replace(microsecond=0)
        overdue = CaseOverdue(
            level="breach",
            clock="handling",
            policy="complaint.general",
            branch_code="GD-SZ",
            kind="complaint",
            tier="general",
            started_at=now - timedelta(days=20),
            due_at=now - timedelta(hours=1),
            late_by_seconds=3600,
            fired_late=False,
            owner=owner,
            assignee=assignee,
        )
        return new_event(overdue, case_id=case_id, producer="sla-svc")
    transfer = CaseTransferred(
        transfer_kind=kind,
        branch_code="GD-SZ",
        from_unit=None,
        to_unit="GD-SZ.claims",
        from_assignee=None,
        to_assignee=assignee,
        owner=owner,
        reason="routed",
    )
    return new_event(transfer, case_id=case_id, producer="routing-svc")


async def state(copy: Copy) -> dict[str, list[str]]:
    """Holders and history by case number (case ids are each copy's own)."""
    async with copy.runtime.db.session() as session:
        held = await session.execute(select(t.cases.c.case_no, t.cases.c.assignee, t.cases.c.owner))
        history = await session.execute(
            select(t.cases.c.case_no, t.case_actions.c.action, t.case_actions.c.actor, t.case_actions.c.details)
            .join(t.cases, t.cases.c.id == t.case_actions.c.case_id)
            .where(t.case_actions.c.source != "intake-svc")
        )
        return {"held": sorted(map(repr, held.all())), "history": sorted(map(repr, history.all()))}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_events_about_cases_batch_matches_one_by_one(copies: tuple[Pair, list[Any]], data: st.DataObject) -> None:
    pair, ids = copies
    on_postgres = pair.copies[0].runtime.db.url.startswith("postgresql")
    drawn = data.draw(events)
    if on_postgres and data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(drawn) - 1))
        if drawn[at][1] != "overdue":
            drawn[at] = (drawn[at][0], drawn[at][1], POISON_ASSIGNEE, drawn[at][3])
    # Each event once per copy, with that copy's case id; some delivered twice in the batch.
    per_copy: list[list[Any]] = [[], []]
    for index, kind, assignee, owner in drawn:
        seq = next(SEQ)
        for n in (0, 1):
            per_copy[n].append(record(envelope(ids[index][n], kind, assignee, owner), seq))
    for again in data.draw(st.lists(st.integers(0, len(drawn) - 1), max_size=2)):
        for n in (0, 1):
            per_copy[n].append(per_copy[n][again])
    whole, single = pair.copies
    before = [_counts(whole.runner), _counts(single.runner)]
    batches_before = whole.runner.batches
    topics = {r.topic for r in per_copy[0]}

    async def apply() -> None:
        # The runner takes a polled batch per topic: one batch per topic, in order.
        for topic in sorted(topics):
            await whole.runner.process([r for r in per_copy[0] if r.topic == topic])
            for r in per_copy[1]:
                if r.topic == topic:
                    await single.runner.process([r])

    pair.call(apply())
    after = [_counts(whole.runner), _counts(single.runner)]
    assert [tuple(x - y for x, y in zip(a, b, strict=True)) for a, b in zip(after, before, strict=True)] == [
        tuple(x - y for x, y in zip(after[1], before[1], strict=True))
    ] * 2
    first, second = pair.call(state(whole)), pair.call(state(single))
    assert first == second
    assert first["history"], "nothing applied: the comparison would prove nothing"
    # Every topic with more than one record went as a batch, but the one the poison sent one by one.
    sizes = {topic: [r for r in per_copy[0] if r.topic == topic] for topic in topics}
    batched = sum(
        1 for rs in sizes.values() if len(rs) > 1 and not any(POISON_ASSIGNEE.encode() in (r.value or b"") for r in rs)
    )
    assert whole.runner.batches - batches_before == batched
