"""Case numbers from blocks whose size follows the branch's pace (``intake.casenumbers``,
decision 0003), on Postgres: the counter row shows each block reserved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake import tables as t
from intake.casenumbers import CaseNumbers
from intake.service import SPEC
from intake.state import state_of
from tests.support.inprocess import running

DAY = datetime(2026, 12, 5, 10, 0)


@dataclass
class Numbering:
    """The running service's own case numbers, and a session to ask with."""

    numbers: CaseNumbers
    session: AsyncSession

    async def take(self, count: int, branch: str = "GD-SZ") -> list[int]:
        taken = [await self.numbers.next(self.session, branch, DAY) for _ in range(count)]
        return [int(number.rsplit("-", 1)[1]) for number in taken]

    async def reserved(self, branch: str = "GD-SZ") -> int:
        """The counter row's last number: the end of the last block reserved."""
        async with self.numbers.db.session() as session:
            last = await session.scalar(select(t.case_counters.c.last).where(t.case_counters.c.branch_code == branch))
        return int(last or 0)


@pytest.fixture
async def numbering(postgres_url: str, tmp_path: Path) -> AsyncIterator[Numbering]:
    """Blocks of 4 numbers at least and 32 at most."""
    limits = {"case_number_block": 4, "case_number_block_max": 32}
    async with running(SPEC, tmp_path, postgres_url, **limits) as intake, intake.runtime.db.session() as session:
        yield Numbering(state_of(intake.runtime).case_numbers, session)


async def test_blocks_used_up_quickly_grow_up_to_the_most(numbering: Numbering) -> None:
    numbering.numbers.fast = 3600.0  # every block counts as used up quickly
    assert await numbering.take(4) == [1, 2, 3, 4]
    assert await numbering.reserved() == 4
    assert await numbering.take(1) == [5]
    assert await numbering.reserved() == 4 + 8  # the second block is twice the first
    await numbering.take(7 + 16 + 32)
    assert await numbering.reserved() == 4 + 8 + 16 + 32
    await numbering.take(1)
    assert await numbering.reserved() == 4 + 8 + 16 + 32 + 32  # never more than the most
    assert await numbering.reserved("GD-GZ") == 0  # per branch
    assert await numbering.take(1, "GD-GZ") == [1]
    assert await numbering.reserved("GD-GZ") == 4


async def test_blocks_that_last_shrink_back_to_the_least(numbering: Numbering) -> None:
    numbering.numbers.fast = 3600.0
    await numbering.take(4 + 8 + 16 + 1)  # the fourth block, of 32, is in use
    assert await numbering.reserved() == 60
    numbering.numbers.fast, numbering.numbers.slow = 0.0, 0.0  # from now on every block lasted long
    taken = await numbering.take(31 + 1)
    assert await numbering.reserved() == 60 + 16
    await numbering.take(15 + 1)
    assert await numbering.reserved() == 60 + 16 + 8
    await numbering.take(7 + 1 + 3 + 1)
    assert await numbering.reserved() == 60 + 16 + 8 + 4 + 4  # never fewer than the least
    assert taken == list(range(30, 62))  # numbers stay unique and in order across blocks


async def test_a_steady_pace_keeps_the_block(numbering: Numbering) -> None:
    numbering.numbers.fast, numbering.numbers.slow = 0.0, 3600.0  # every block lasted between the two
    await numbering.take(4 * 5)
    assert await numbering.reserved() == 20
