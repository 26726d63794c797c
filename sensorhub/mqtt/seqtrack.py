"""De-duplication and loss counting for one hub session's sequence numbers (sans-I/O).

A hub numbers its messages 1, 2, 3... per hub session with no gaps. QoS 1 delivers each at
least once, so the aggregator sees redeliveries, and, if a broker lost messages, gaps. The
tracker keeps a high-water mark plus the set of sequence numbers still missing below it:

* ``seq == high + 1``: the next one (the common case).
* ``seq > high + 1``: the numbers in between are missing (a late arrival may still fill them).
* ``seq <= high``: a late arrival if it fills a gap, otherwise a duplicate.

The first live message sets the baseline: an aggregator that joins a hub mid-session does not
count what was published before it subscribed as missing.

Retained messages (a new subscription's snapshot of the hub's state: ``hello``, statuses, the
hub state) are old messages, not part of the live stream: they never move the high-water mark
and are never counted as duplicates (a re-subscription delivers them again); one already seen
is dropped silently.
"""

from __future__ import annotations

__all__ = ["MAX_TRACKED_GAPS", "SeqTracker"]

#: Missing numbers remembered individually so a late arrival can fill its gap. Beyond this a
#: gap is counted as missing for good (a late copy is then taken for a duplicate): a broker
#: that lost this many messages has a bigger problem than the count being off.
MAX_TRACKED_GAPS = 100_000
#: Retained / pre-baseline numbers remembered to recognise their copies (a hub has a few
#: retained topics: hello, its state, one status per sensor).
_MAX_EXTRA = 4096


class SeqTracker:
    """Sequence numbers of one ``(hub, hub_session)``; see the module docstring."""

    __slots__ = ("_extra", "duplicates", "gaps", "high", "lost_for_good", "low")

    def __init__(self) -> None:
        self.high = 0  # highest live seq accepted; 0 before the first
        self.low = 0  # the live baseline (first live seq accepted)
        self.gaps: set[int] = set()
        self.lost_for_good = 0
        self.duplicates = 0
        self._extra: dict[int, None] = {}  # insertion-ordered set

    @property
    def missing(self) -> int:
        """Sequence numbers not received (so far) between the baseline and the high mark."""
        return len(self.gaps) + self.lost_for_good

    def seen(self, seq: int) -> bool:
        if seq in self._extra:
            return True
        return self.high > 0 and self.low <= seq <= self.high and seq not in self.gaps

    def accept(self, seq: int, *, retained: bool = False) -> bool:
        """True if ``seq`` is new (forward it); False for a copy (drop it)."""
        if self.seen(seq):
            if not retained:
                self.duplicates += 1
            return False
        if retained or (self.high > 0 and seq < self.low):
            self._remember(seq)
        elif self.high == 0:
            self.low = self.high = seq
        elif seq > self.high:
            self._add_gap(self.high + 1, seq)
            self.high = seq
        else:
            self.gaps.discard(seq)  # a late arrival fills its gap
        return True

    def _add_gap(self, start: int, stop: int) -> None:
        room = MAX_TRACKED_GAPS - len(self.gaps)
        if stop - start > room:
            self.lost_for_good += stop - start - max(room, 0)
            start = stop - max(room, 0)
        self.gaps.update(range(start, stop))

    def _remember(self, seq: int) -> None:
        self._extra[seq] = None
        if len(self._extra) > _MAX_EXTRA:
            del self._extra[next(iter(self._extra))]
