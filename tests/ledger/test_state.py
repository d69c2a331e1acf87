"""State views: overlays, atomic child commits, sorted iteration, state root."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.state import MemoryState, Overlay, WriteSet, state_root_of
from ledger.state_tree import MemoryNodeStore, StateTree

keys = st.text(alphabet="abc/", min_size=1, max_size=4)
ops = st.lists(st.tuples(keys, st.one_of(st.none(), st.binary(min_size=1, max_size=3))), max_size=30)


def _write(overlay, model, writes):
    """The writes into the overlay, and into the model (a dict) alike."""
    for k, v in writes:
        if v is None:
            overlay.delete(k)
            model.pop(k, None)
        else:
            overlay.put(k, v)
            model[k] = v


@given(st.dictionaries(keys, st.binary(min_size=1, max_size=3)), ops, st.text(alphabet="abc/", max_size=2))
def test_overlay_iteration_matches_model(base, writes, prefix):
    state = MemoryState(base.items())
    overlay = Overlay(state)
    model = dict(base)
    _write(overlay, model, writes)
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


def test_state_root_depends_on_the_whole_state_not_the_order_of_writes():
    def root_after(writes):
        tree = StateTree(MemoryNodeStore())
        tree.apply(0, {b"b": b"0", b"c": b"2"})
        return WriteSet(writes).root_in(tree, 1)

    r1 = root_after([("a", b"1"), ("b", None)])
    assert r1 == root_after([("b", None), ("a", b"1")])  # order-independent
    assert r1 == state_root_of([("a", b"1"), ("c", b"2")])  # the state after, whole
    assert r1 != root_after([("a", b"2"), ("b", None)])
    assert r1 != root_after([("a", b"1")])
    assert r1 == root_after([("a", b"1"), ("b", None), ("zz", None)])  # absent key deleted
    assert state_root_of([]) == "00" * 32  # the empty state: the empty tree


def test_read_cache_reads_each_key_of_its_base_once() -> None:
    from ledger.state import ReadCache

    class Counting(MemoryState):
        def __init__(self, items: list[tuple[str, bytes]]) -> None:
            super().__init__(items)
            self.reads: list[str] = []

        def get(self, key: str) -> bytes | None:
            self.reads.append(key)
            return super().get(key)

    base = Counting([("a/1", b"1"), ("a/2", b"2"), ("b/1", b"3")])
    cache = ReadCache(base)
    assert [cache.get("a/1"), cache.get("zz"), cache.get("a/1"), cache.get("zz")] == [
        b"1", None, b"1", None]
    assert base.reads == ["a/1", "zz"]  # an absent key is remembered too
    # ordered reads are the base's, every time
    assert list(cache.iter_prefix("a/")) == [("a/1", b"1"), ("a/2", b"2")]
    assert list(cache.iter_prefix("a/", "a/2")) == [("a/2", b"2")]
    assert cache.last_at_or_before("a/", "a/9") == ("a/2", b"2")
    assert cache.last_at_or_before("a/", "a/2", strict=True) == ("a/1", b"1")
    # an overlay over it sees its own writes first
    view = Overlay(cache)
    view.put("a/1", b"x")
    view.delete("b/1")
    assert (view.get("a/1"), view.get("b/1"), view.get("a/2")) == (b"x", None, b"2")
    assert list(view.iter_prefix("")) == [("a/1", b"x"), ("a/2", b"2")]


GROUPED = st.text(alphabet="a/", min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(base=st.dictionaries(GROUPED, st.binary(min_size=1, max_size=2), max_size=10),
       before=st.lists(st.tuples(GROUPED, st.one_of(st.none(), st.binary(min_size=1, max_size=2))),
                       max_size=10),
       after=st.lists(st.tuples(GROUPED, st.one_of(st.none(), st.binary(min_size=1, max_size=2))),
                      max_size=10),
       prefixes=st.lists(st.text(alphabet="a/", max_size=5), min_size=1, max_size=6))
def test_overlay_scans_and_seeks_of_nested_keys_match_model(base, before, after, prefixes):
    """Keys of many ``/`` (as the state's are), keys ending in one, keys of none; scans
    and seeks of any prefix, the overlay's sorted indexes built between two series of
    writes (so kept up to date by inserts and deletes)."""
    overlay = Overlay(MemoryState(base.items()))
    model = dict(base)
    _write(overlay, model, before)
    list(overlay.iter_prefix(""))  # builds the indexes
    _write(overlay, model, after)
    for prefix in prefixes:
        assert list(overlay.iter_prefix(prefix)) == sorted(
            (k, v) for k, v in model.items() if k.startswith(prefix))
        for key in (prefix, prefix + "a", prefix + "/", prefix + "a/a"):
            under = [k for k in model if k.startswith(prefix) and k <= key]
            assert overlay.last_at_or_before(prefix, key) == (
                (max(under), model[max(under)]) if under else None)

