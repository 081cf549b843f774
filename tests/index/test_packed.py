"""Packed texts (the index's nearly distinct text columns and their folded views) read exactly
as the lists they replace: every value, every slice, and every primitive's answer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from segmint.filters import parse_filter
from segmint.filters.evaluate import PyValue
from segmint.filters.operators import PY_PRIMITIVES, View
from segmint.index import packed
from segmint.index.columns import DictionaryColumn
from segmint.index.packed import PackedTexts
from segmint.index.vectors import DictionaryOperand, Texts
from segmint.projects import Project
from tests.filters.harness import LeadSpec, insert_leads, matches
from tests.filters.strategies import NOW

ODD = [
    "ann",
    None,
    "",
    "  ",
    "Émile",
    "Łukasz",
    "中文",
    "😀 x",
    "lone \ud800 surrogate",
    "ANN ",
    "ann",
    "a" * 1000,
]
texts = st.text(st.characters(blacklist_characters="\x00"), max_size=8)
storable = st.text(  # what a database stores: no NUL, no lone surrogate
    st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=8
)
values = st.lists(
    st.none() | texts | st.sampled_from(["ann", "Ann", "ANN ", "", "aaa", "abab", "aa"]),
    max_size=30,
)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 4096])
def test_reads_as_the_list_it_holds(chunk: int) -> None:
    held = PackedTexts(ODD, chunk)
    assert len(held) == len(ODD)
    assert list(held) == ODD
    assert [held[i] for i in range(-len(ODD), len(ODD))] == ODD + ODD
    for start in range(-2, len(ODD) + 2):
        for stop in range(-2, len(ODD) + 2):
            assert held[start:stop] == ODD[start:stop]
            assert held[start:stop:3] == ODD[start:stop:3]
    for outside in (len(ODD), -len(ODD) - 1):
        with pytest.raises(IndexError):
            held[outside]


@settings(deadline=None)
@given(first=values, then=st.lists(values, max_size=4), chunk=st.integers(1, 6))
def test_appends_one_at_a_time_and_in_batches(
    first: list[str | None], then: list[list[str | None]], chunk: int
) -> None:
    held, expected = PackedTexts(first, chunk), list(first)
    for batch in then:
        if len(batch) % 2:
            for value in batch:
                held.append(value)
        else:
            held.extend(batch)
        expected.extend(batch)
        assert list(held) == expected
        assert held[len(expected) // 2 :] == expected[len(expected) // 2 :]
    assert len(held.chunks) == len(expected) // chunk
    assert len(held.tail) == len(expected) % chunk


def test_a_reader_keeps_what_it_read_while_a_chunk_is_sealed() -> None:
    held = PackedTexts(["a", "b"], chunk=3)
    tail = held.tail
    held.append("c")  # seals the chunk: the old tail is replaced, not cleared
    assert tail == ["a", "b", "c"] and held.tail == [] and list(held) == ["a", "b", "c"]


def test_a_settled_text_column_packs_its_values_and_appends_after() -> None:
    column = DictionaryColumn(mixed=False)
    column.append(["ann@x.test", "bo@x.test", None, "ann@x.test"])
    column.settle(rows=4)
    assert isinstance(column.values, PackedTexts)
    assert column.operand.values is column.values
    column.append(["cy@x.test", None, ""])
    column.assign([0], ["Dee@x.test"])
    reads = [column.raw(row) for row in range(7)]
    assert reads == ["Dee@x.test", "bo@x.test", None, "ann@x.test", "cy@x.test", None, ""]
    folded = column.gather(column.operand.view(View.TEXT).compare("eq", "dee@x.test"))
    assert folded.tolist() == [True] + [False] * 6


def test_a_column_of_few_values_keeps_its_list() -> None:
    column = DictionaryColumn(mixed=False)
    column.append(["new", "new", "lost", "new"])
    column.settle(rows=4)
    assert column.values == ["new", "lost"]


def _expected(folded: list[str | None], primitive: str, argument: Any) -> list[bool]:
    """What the Python evaluator answers for each value read in the view (None: null)."""
    if primitive == "in":
        return [v is not None and any(v == a for a in argument) for v in folded]
    test = PY_PRIMITIVES[primitive]
    return [v is not None and isinstance(argument, str) and test(v, argument) for v in folded]


ARGUMENTS = [
    "ann",
    "a",
    "aa",
    "aba",
    "",
    " ",
    "émile",
    "中",
    "😀 x",
    "lone \ud800 surrogate",
    "zz",
    5,
]
PRIMITIVES = ["eq", "contains", "starts", "ends", "gt", "ge", "lt", "le"]


def _check_view(operand: DictionaryOperand, raws: list[Any], kind: View) -> None:
    folded = [PyValue(raw).view(kind) for raw in raws]
    view = operand.view(kind)
    assert isinstance(view, Texts) and view.size == len(raws)
    assert view.valid.tolist() == [v is not None for v in folded]
    for primitive in PRIMITIVES:
        for argument in ARGUMENTS:
            got = view.compare(primitive, argument).tolist()
            assert got == _expected(folded, primitive, argument), (primitive, argument)
    got = view.compare("in", ("ann", "zz", 5, "")).tolist()
    assert got == _expected(folded, "in", ("ann", "zz", 5, ""))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(values, min_size=1, max_size=4), chunk=st.integers(1, 5), pack=st.booleans())
def test_a_view_answers_as_the_python_evaluator_as_values_are_added(
    parts: list[list[str | None]], chunk: int, pack: bool
) -> None:
    """Read in parts (a view is extended, not rebuilt), over a list or packed values."""
    held: list[Any] | PackedTexts = PackedTexts((), chunk) if pack else []
    operand = DictionaryOperand(held)
    operand.values = held
    raws: list[Any] = []
    for part in parts:
        held.extend(part)
        raws.extend(part)
        _check_view(operand, raws, View.TEXT)
        _check_view(operand, raws, View.DATE)


def test_odd_values_in_every_view_and_chunk_size() -> None:
    for chunk in (1, 2, 3, 4096):
        for held in (PackedTexts(ODD, chunk), list(ODD)):
            for kind in (View.TEXT, View.DATE, View.BOOLEAN):
                _check_view(DictionaryOperand(held), list(ODD), kind)


def test_a_view_that_reads_values_unchanged_shares_their_chunks() -> None:
    emails = [f"lead{i}@x.test" for i in range(10)]
    held = PackedTexts([*emails, "Upper@x.test", "z@x.test"], chunk=4)
    operand = DictionaryOperand(held)
    view = operand.view(View.TEXT)
    assert isinstance(view, Texts)
    shared = [a is b for a, b in zip(view._chunks, held.chunks, strict=True)]
    assert shared == [True, True, False]  # the third holds "upper@x.test" folded
    shared_bytes = sum(chunk.nbytes() for chunk in held.chunks[:2])
    assert operand.nbytes() == view.nbytes() - shared_bytes  # counted once: in the column
    assert view.compare("eq", "lead9@x.test").tolist() == [i == 9 for i in range(12)]


def test_numbers_of_packed_texts_are_null() -> None:
    operand = DictionaryOperand(PackedTexts(["1", None, "x"], chunk=2))
    number = operand.view(View.NUMBER)
    assert number.compare("eq", 1).tolist() == [False] * 3
    assert operand.present().tolist() == [True, False, True]
    assert not np.any(operand.has_elements(("x",), every=False))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    emails=st.lists(
        st.sampled_from(["ann@x.test", "Bo@X.test", "", "  "]) | storable, max_size=6, unique=True
    ),
    search=st.sampled_from(["ann", "x.test", "bo", "é", "Ann@x.Test"]),
    op=st.sampled_from(["eq", "neq", "contains", "not_contains", "starts_with", "ends_with"]),
)
def test_the_index_with_small_chunks_answers_as_python(
    db: Engine,
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    emails: list[str],
    search: str,
    op: str,
) -> None:
    """Columns settled packed, in chunks of two: sealed chunks, shared ones and a tail."""
    monkeypatch.setattr(packed, "CHUNK", 2)
    people = [LeadSpec({"email": email or None, "first_name": email}) for email in emails]
    if not people:
        return
    with db.connect() as conn:
        transaction = conn.begin()
        try:
            ids = insert_leads(conn, project.id, people)
            for field in ("email", "name"):
                node = parse_filter({"field": field, "op": op, "value": search}, project)
                matches(conn, project, node, NOW, ids)  # asserts index == Python
        finally:
            transaction.rollback()


def test_slices_are_the_utf8_of_the_values_asked_for() -> None:
    held = PackedTexts(ODD, chunk=3)
    wanted = np.asarray([10, 4, 0, 4, 9], np.int64)  # the tail, chunks out of order, a repeat
    expected = [(ODD[i] or "").encode("utf-8", "surrogatepass") for i in wanted.tolist()]
    assert held.slices()(wanted) == expected
    every = np.arange(len(ODD))
    assert held.slices()(every) == [(v or "").encode("utf-8", "surrogatepass") for v in ODD]
    assert held.slices()(np.asarray([], np.int64)) == []
    assert PackedTexts([], chunk=3).slices()(np.asarray([], np.int64)) == []
    assert PackedTexts(ODD[:6], chunk=3).slices()(np.asarray([5, 0])) == [b"\xc5\x81ukasz", b"ann"]


def test_bytes_counted_once_follow_every_append() -> None:
    """nbytes() is kept between calls (the budget asks after every answer): it must still see
    each value appended, loose or sealed."""
    texts = PackedTexts(["ann", None, "bo"], chunk=4)
    counted = [texts.nbytes()]
    for value in ("x" * 100, "élan", None, "y" * 50):
        texts.append(value)
        counted.append(texts.nbytes())
        assert counted[-1] == PackedTexts(list(texts), chunk=4).nbytes()
    assert counted[1] > counted[0]


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=40) | st.text("ab\x00é", max_size=40).map(packed.utf8),
    pattern=st.binary(min_size=2, max_size=5)
    | st.text("ab\x00é", min_size=1, max_size=4).map(packed.utf8),
)
def test_every_start_of_a_pattern_is_found_at_either_parity(data: bytes, pattern: bytes) -> None:
    """Overlapping starts, starts at the first and last possible offsets, odd lengths."""
    if len(pattern) < 2:
        pattern += b"a"
    expected = [at for at in range(len(data)) if data.startswith(pattern, at)]
    assert sorted(packed.starts_of(data, pattern).tolist()) == expected


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.text("abé ", max_size=6), max_size=12), pick=st.data())
def test_values_holding_a_piece_of_one_of_them_are_found(texts: list[str], pick: Any) -> None:
    """The pattern is cut out of the values' own packed bytes, framing NULs included, so that
    it is found at every place a value starts, ends, or is whole."""
    chunk = packed.Packed.of(texts)
    start = pick.draw(st.integers(0, len(chunk.data) - 1))
    stop = pick.draw(st.integers(start + 1, len(chunk.data)))
    wanted = chunk.data[start:stop]
    framed = [b"\0" + packed.utf8(text) + b"\0" for text in texts]
    expected = [i for i, text in enumerate(framed) if wanted in text]
    if b"\0" not in wanted[1:-1]:  # a pattern across two values finds neither
        assert sorted(set(chunk.entries_with(wanted).tolist())) == expected, (texts, wanted)
