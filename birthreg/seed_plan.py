"""What `birthreg seed` decides for each birth before its rows are made: its story and its numbers.

A birth's story follows its clock: recorded an hour after it, the mother's key (and for some
births the father's) issued within hours, the application signed and received within days, opened
and decided by a clerk days later. Whatever would happen after the seed's moment has not
happened yet, so recent births are in the early states and the queue holds only the last days'.
A few parents never apply, a few submissions are rejected, and a few keys are revoked.

The numbers the registry hands out in order (act record numbers, child IIN serials, registration
ids, enrollment look-ups, tracking numbers) are drawn here, in one process and in birth order
(`Counters`); everything else about a birth (its people, documents and signatures) is made from
its own random seed (`Plan.seed`), anywhere (`birthreg.seed_rows`), so that the same seed gives the
same births however many processes make them.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from birthreg.notify.tracking import new_tracking_number
from birthreg.registry.numbering import iin_prefix, local_date
from signing.ca import PARTITION_SIZE
from signing.identity import make_iin

#: Shares of births that stop early although time would let them go on.
NEVER_APPLIED = 0.02
REJECTED = 0.02
REVOKED = 0.01
WITH_FATHER = 0.4


class Story(NamedTuple):
    """One birth's times; None where the step has not happened (yet, or ever). Story, Numbers
    and Plan are named tuples: the main process makes them, a million each, and sends them to
    the workers; a named tuple is made in a third of a frozen dataclass's time and pickled in
    less than half."""

    born_at: datetime
    recorded_at: datetime
    key_at: datetime | None
    applied_at: datetime | None
    opened_at: datetime | None
    decided_at: datetime | None
    rejected: bool
    revoked_at: datetime | None
    father: bool

    @property
    def registered(self) -> bool:
        return self.decided_at is not None and not self.rejected


def story(rng: random.Random, born_at: datetime, moment: datetime) -> Story:
    def step(after: datetime | None, hours: float) -> datetime | None:
        if after is None:
            return None
        at = after + timedelta(hours=hours)
        return at if at <= moment else None

    recorded = born_at + timedelta(minutes=rng.randint(30, 120))
    key_at = step(recorded, rng.uniform(0.5, 12))
    applied = None if rng.random() < NEVER_APPLIED else step(key_at, rng.uniform(2, 96))
    opened = step(applied, rng.uniform(1, 72))
    decided = step(opened, rng.uniform(0.1, 24))
    revoked = step(key_at, rng.uniform(24, 24 * 60)) if rng.random() < REVOKED else None
    return Story(
        born_at,
        min(recorded, moment),
        key_at,
        applied,
        opened,
        decided,
        rng.random() < REJECTED,
        revoked,
        rng.random() < WITH_FATHER,
    )


class Numbers(NamedTuple):
    """A registration's numbers: its id, its act record's year and number, the child's IIN (and
    its serial under its prefix)."""

    id: int
    year: int
    act_record_number: int
    child_iin: str
    iin_serial: int


class Plan(NamedTuple):
    """One birth: its story, the child's sex, the seed of its other random draws, and its
    numbers (`lookups`: one per enrollment, the mother's first; `partitions`: the CRL partition
    of each enrollment's certificate, in the same order; `tracking` once it is sent)."""

    life: Story
    sex: str
    seed: int
    lookups: tuple[int, ...]
    tracking: str | None
    registration: Numbers | None
    partitions: tuple[int, ...] = ()


@dataclass
class Counters:
    """Where the registry's numbers stand (loaded from the database, moved by each birth)."""

    office_id: int
    acts: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    iins: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    next_registration_id: int = 1
    next_lookup: int = 0
    #: The CA's open CRL partition (0: none yet) and how many certificates it was given.
    partition: int = 0
    partition_issued: int = 0
    tracking_numbers: set[str] = field(default_factory=set)
    #: The counter rows the database has (the others are inserted when first moved).
    stored_acts: set[tuple[int, int]] = field(default_factory=set)
    stored_iins: set[str] = field(default_factory=set)

    def lookup(self) -> int:
        self.next_lookup += 1
        return self.next_lookup

    def crl_partition(self) -> int:
        """The partition of the next certificate, as the CA gives it
        (`pki.partitions.next_crl_partition`): the open one until it has PARTITION_SIZE, then
        the next."""
        if self.partition == 0 or self.partition_issued >= PARTITION_SIZE:
            self.partition, self.partition_issued = self.partition + 1, 0
        self.partition_issued += 1
        return self.partition

    def tracking_number(self) -> str:
        while (number := new_tracking_number()) in self.tracking_numbers:
            pass
        self.tracking_numbers.add(number)
        return number

    def register(self, life: Story, sex: str) -> Numbers:
        assert life.decided_at is not None
        year = local_date(life.decided_at).year
        self.acts[(self.office_id, year)] += 1
        born = local_date(life.born_at)
        prefix = iin_prefix(born, sex)
        while True:
            self.iins[prefix] += 1
            iin = make_iin(born, sex, self.iins[prefix])
            if iin is not None:
                break
        numbers = Numbers(
            self.next_registration_id,
            year,
            self.acts[(self.office_id, year)],
            iin,
            self.iins[prefix],
        )
        self.next_registration_id += 1
        return numbers


def plan_birth(counters: Counters, rng: random.Random, born_at: datetime, moment: datetime) -> Plan:
    life = story(rng, born_at, moment)
    sex = "F" if rng.random() < 0.49 else "M"
    seed = rng.getrandbits(64)
    enrollments = 0 if life.key_at is None else 2 if life.father else 1
    lookups = tuple(counters.lookup() for _ in range(enrollments))
    partitions = tuple(counters.crl_partition() for _ in range(enrollments))
    sent = life.key_at is not None and life.applied_at is not None
    return Plan(
        life,
        sex,
        seed,
        lookups,
        tracking=counters.tracking_number() if sent else None,
        registration=counters.register(life, sex) if sent and life.registered else None,
        partitions=partitions,
    )
