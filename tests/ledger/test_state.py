"""State views: overlays, atomic child commits, sorted iteration, state root."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.state import MemoryState, Overlay, next_state_root

keys = st.text(alphabet="abc/", min_size=1, max_size=4)
ops = st.lists(st.tuples(keys, st.one_of(st.none(), st.binary(min_size=1, max_size=3))), max_size=30)


@given(st.dictionaries(keys, st.binary(min_size=1, max_size=3)), ops, st.text(alphabet="abc/", max_size=2))
def test_overlay_iteration_matches_model(base, writes, prefix):
    state = MemoryState(base.items())
    overlay = Overlay(state)
    model = dict(base)
    for k, v in writes:
        if v is None:
            overlay.delete(k)
            model.pop(k, None)
        else:
            overlay.put(k, v)
            model[k] = v
    expected = sorted((k, v) for k, v in model.items() if k.startswith(prefix))
    assert list(overlay.iter_prefix(prefix)) == expected
    state.apply(overlay.write_set())
    assert state.items() == sorted(model.items())


def test_child_commit_and_discard():
    overlay = Overlay(MemoryState([("a", b"1")]))
    child = overlay.child()
    child.put("b", b"2")
    assert overlay.get("b") is None
    child.commit()
    assert overlay.get("b") == b"2"
    discarded = overlay.child()
    discarded.put("c", b"3")
    assert overlay.get("c") is None


def test_state_root_depends_on_every_write():
    base = "00" * 32
    r1 = next_state_root(base, [("a", b"1"), ("b", None)])
    assert r1 == next_state_root(base, [("b", None), ("a", b"1")])  # order-independent
    assert r1 != next_state_root(base, [("a", b"2"), ("b", None)])
    assert r1 != next_state_root(base, [("a", b"1")])
    assert r1 != next_state_root("11" * 32, [("a", b"1"), ("b", None)])
