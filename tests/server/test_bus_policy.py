"""The overflow policy under arbitrary interleavings of publish and get (hypothesis):

* events other than angles arrive complete and in publication order (until an overflow);
* a participant's angles arrive in publication order, and the latest one published before
  the client caught up always arrives (never stale, never lost at the end);
* the whole delivered stream is a subsequence of the published stream;
* the queue never holds more than ``max_queue`` undelivered events that may not be dropped.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sensorhub.bus import EventBus
from sensorhub.events import Angle, Marker

# An operation: ("angle", participant index) | ("marker",) | ("get", how many)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("angle"), st.integers(0, 2)),
        st.tuples(st.just("marker")),
        st.tuples(st.just("get"), st.integers(1, 5)),
    ),
    max_size=300,
)


@given(ops=ops, max_queue=st.integers(1, 20))
def test_policy_holds_for_any_interleaving(ops: list[tuple[Any, ...]], max_queue: int) -> None:
    bus = EventBus()
    sub = bus.subscribe("c", max_queue=max_queue)
    published: list[Any] = []
    got: list[Any] = []
    for i, op in enumerate(ops):
        if op[0] == "angle":
            event: Any = Angle(f"p{op[1]}", float(i), float(i), 0.0)
        elif op[0] == "marker":
            event = Marker(float(i), "m")
        else:
            for _ in range(op[1]):
                if (e := sub.get_nowait()) is not None:
                    got.append(e)
            continue
        published.append(event)
        bus.publish(event)
        assert sub._kept <= max_queue or sub.closed
    while (e := sub.get_nowait()) is not None:
        got.append(e)

    it = iter(published)
    assert all(any(g is p for p in it) for g in got), "delivered out of publication order"
    markers = [e for e in published if isinstance(e, Marker)]
    got_markers = [e for e in got if isinstance(e, Marker)]
    if sub.overflowed:
        assert got_markers == markers[: len(got_markers)]
        return
    assert got_markers == markers
    for p in ("p0", "p1", "p2"):
        mine = [e for e in published if isinstance(e, Angle) and e.participant == p]
        delivered = [e for e in got if isinstance(e, Angle) and e.participant == p]
        assert [e.t for e in delivered] == sorted(e.t for e in delivered)
        if mine:
            assert delivered[-1] is mine[-1]
    assert sub.depth == 0
