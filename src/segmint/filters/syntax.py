"""Text syntax <-> tree (grammar.lark documents the syntax).

Parsing builds the canonical JSON and hands it to `parse_filter`, so text and JSON are validated
by the same code. Operator spellings come from the registry (`Operator.text`): the grammar's
`condition` rule and the operators' keywords are built from the entries' spellings and value
shapes, and the tokens of a condition's spelling, joined by spaces, name its operator.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any, Final, assert_never

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedEOF, UnexpectedInput, VisitError

from segmint.errors import InvalidInput
from segmint.filters.operators import OPERATORS, Shape
from segmint.filters.parse import parse_filter
from segmint.filters.source import SegmentSource
from segmint.filters.tree import (
    LEADS,
    AccountSegmentRef,
    Aggregate,
    And,
    Bucket,
    Condition,
    DistinctEvents,
    EventCondition,
    EventSequence,
    LeadsCondition,
    ListRef,
    ManualRef,
    Node,
    Not,
    Or,
    Scalar,
    SegmentRef,
    SegmentTenure,
    SequenceStep,
    Value,
)
from segmint.projects import Project

_PLAIN_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")
_KEYWORD: Final = re.compile(r'^(_?[A-Z]+): "([a-z]+)"$', re.MULTILINE)  # NOT: "not"
_WORD: Final = re.compile(r"[a-z]+")
# A spelling that is one symbol is a CMP token; these characters start no other token.
_SYMBOL: Final = re.compile(r"[!#$%&*+:;<=>?@^|~]+")


@cache
def _grammar() -> str:
    """grammar.lark, plus the `condition` rule and operator keywords built from the registry."""
    base = resources.files("segmint.filters").joinpath("grammar.lark").read_text("utf-8")
    return base + _operator_rules(base)


def _operand(shape: Shape) -> str:
    """What follows an operator's spelling, for each value shape, and the transformer method
    (below) that turns it into JSON."""
    match shape:
        case Shape.NONE:
            return "-> no_value"
        case Shape.SCALAR:
            return "value -> with_value"
        case Shape.LIST | Shape.STRINGS:
            return "values -> with_value"
        case Shape.TEXT_OR_LIST:
            return "text_or_values -> with_value"
        case Shape.PAIR:
            return "value _AND value -> with_pair"
        case Shape.DAYS:
            return "number _days -> with_value"
        case Shape.PERIOD:
            return "period -> with_value"
        case _:
            assert_never(shape)


def _keyword(word: str, key: str, known: dict[str, str], added: dict[str, str]) -> str:
    """The terminal of one word of an operator's spelling (the grammar's own, or a new one)."""
    if not _WORD.fullmatch(word):
        raise ValueError(f"operator {key!r}: spell it in lower-case words or as one symbol")
    name = known.get(word) or added.setdefault(word, word.upper())
    if name.startswith("_"):  # filtered out of the parse tree: the spelling could not be read
        raise ValueError(f"operator {key!r}: {word!r} is punctuation of the text syntax")
    return name


def _operator_rules(base: str) -> str:
    """One `condition` alternative per operator: FIELD, its spelling, then its value shape."""
    known = {word: name for name, word in _KEYWORD.findall(base)}
    added: dict[str, str] = {}
    symbols: set[str] = set()
    alternatives: dict[str, None] = {}  # in registry order, without repeats
    for op in OPERATORS.values():
        if _SYMBOL.fullmatch(op.text):
            symbols.add(op.text)
            spelled = "CMP"
        else:
            words = op.text.split(" ")
            spelled = " ".join(_keyword(word, op.key, known, added) for word in words)
        alternatives[f"field {spelled} {_operand(op.shape)}"] = None
    lines = ["?condition: " + "\n          | ".join(alternatives)]
    lines += [f'{name}: "{word}"' for word, name in added.items()]
    if symbols:  # longest first: `>=` is not `>` then `=`
        ordered = sorted(symbols, key=lambda symbol: (-len(symbol), symbol))
        lines.append(f"CMP: /{'|'.join(re.escape(symbol) for symbol in ordered)}/")
    return "\n\n" + "\n".join(lines) + "\n"


@cache
def keywords() -> frozenset[str]:
    """Words a bare field name may not be (print them in backquotes)."""
    return frozenset(word for _name, word in _KEYWORD.findall(_grammar()))


def _words(children: list[Any]) -> str:
    """An operator's spelling: its tokens (values are no longer tokens), joined by spaces."""
    return " ".join(str(c) for c in children if isinstance(c, Token))


@cache
def _spellings() -> dict[str, str]:
    return {op.text: op.key for op in OPERATORS.values()}


def _operator(spelling: str) -> str:
    try:
        return _spellings()[spelling]
    except KeyError:
        raise InvalidInput(f"unknown operator {spelling!r}", "filter") from None


class _ToJson(Transformer[Token, Any]):
    """Parse tree -> filter JSON (applied inline while parsing: no recursion, any depth)."""

    def or_group(self, children: list[Any]) -> Any:
        return {"or": children}

    def and_group(self, children: list[Any]) -> Any:
        return {"and": children}

    def not_group(self, children: list[Any]) -> Any:
        return {"not": children[-1]}

    def single_and(self, children: list[Any]) -> Any:
        return {"and": [children[-1]]}

    def single_or(self, children: list[Any]) -> Any:
        return {"or": [children[-1]]}

    def segment_ref(self, children: list[Any]) -> Any:
        return {"in_segment": _number(children[2])}

    def segment_for(self, children: list[Any]) -> Any:
        return {"in_segment": _number(children[2]), "for_at_least_days": children[-1]}

    def segment_entered(self, children: list[Any]) -> Any:
        return {"in_segment": _number(children[2]), "entered_within_days": children[-1]}

    def account_segment_ref(self, children: list[Any]) -> Any:
        return {"in_account_segment": _number(children[3])}

    def leads(self, children: list[Any]) -> Any:
        """`leads (expr) (at least N)? (at most N)?`: an account filter's condition over its
        leads; the where is the expression after the LEADS token."""
        return _with_options({"leads": children[1]}, children[2:])

    def list_ref(self, children: list[Any]) -> Any:
        return {"in_list": _number(children[-1])}

    def assigned_to_me(self, _children: list[Any]) -> Any:
        return {"assigned_to_me": True}

    def bucket(self, children: list[Any]) -> Any:
        low, high, *salt = (c for c in children if not isinstance(c, Token))
        return {"bucket": [low, high], **({"salt": salt[0]} if salt else {})}

    def with_value(self, children: list[Any]) -> Any:
        return {"field": children[0], "op": _operator(_words(children)), "value": children[-1]}

    def with_pair(self, children: list[Any]) -> Any:
        value = [children[-2], children[-1]]
        return {"field": children[0], "op": _operator(_words(children)), "value": value}

    def no_value(self, children: list[Any]) -> Any:
        return {"field": children[0], "op": _operator(_words(children))}

    def event(self, children: list[Any]) -> Any:
        data: dict[str, Any] = {"event": next(c for c in children if isinstance(c, _Text))}
        if isinstance(children[0], Token) and children[0].type == "DID":
            data["performed"] = False
        return _with_options(data, children)

    def sequence(self, children: list[Any]) -> Any:
        first_step = next(i for i, c in enumerate(children) if isinstance(c, _Step))
        first = _Step(event=next(c for c in children if isinstance(c, _Text)))
        for key, value in (c for c in children[:first_step] if isinstance(c, tuple)):
            if key != "where" or "where" in first:
                words = key.replace("_", " ")
                raise InvalidInput(
                    f"a sequence's first step takes only a where, not {words}", "filter"
                )
            first["where"] = value
        steps = [first, *(c for c in children if isinstance(c, _Step))]
        data: dict[str, Any] = {"sequence": steps}
        return _with_options(data, children[first_step:])

    def step(self, children: list[Any]) -> Any:
        texts = [c for c in children if isinstance(c, _Text)]
        step = _Step(event=texts[0])
        if len(children) > 1:  # string WHERE unary
            step["where"] = children[-1]
        return step

    def since_days(self, children: list[Any]) -> Any:
        return ("since_days", children[-1])

    def not_between(self, children: list[Any]) -> Any:
        """`without STRING (where unary)? in between`: the where, when given, is the child after
        the WHERE token."""
        excluded: dict[str, Any] = {"event": children[1]}
        if isinstance(children[2], Token) and children[2].type == "WHERE":
            excluded["where"] = children[3]
        return ("not_between", excluded)

    def min_count(self, children: list[Any]) -> Any:
        return ("min_count", children[-1])

    def max_count(self, children: list[Any]) -> Any:
        return ("max_count", children[-1])

    def within_days(self, children: list[Any]) -> Any:
        return ("within_days", children[-1])

    def where(self, children: list[Any]) -> Any:
        return ("where", children[-1])

    def older_than_days(self, children: list[Any]) -> Any:
        return ("older_than_days", children[-1])

    def min_distinct_days(self, children: list[Any]) -> Any:
        return ("min_distinct_days", children[-1])

    def aggregate(self, children: list[Any]) -> Any:
        """`with fn(path) OP number` or `with fn(path) between A and B`: the JSON's checks
        (parse.py) name a bad fn or operator."""
        fn, path = str(children[1]), children[2]
        if children[3].type == "BETWEEN":
            return ("aggregate", {"fn": fn, "path": path, "op": "between", "value": children[4:]})
        return (
            "aggregate",
            {"fn": fn, "path": path, "op": _operator(str(children[3])), "value": children[4]},
        )

    def distinct_events(self, children: list[Any]) -> Any:
        data: dict[str, Any] = {"distinct_events": children[1]}
        for option in children[2:]:
            if isinstance(option, tuple):
                key, value = option
                if key in data:
                    raise InvalidInput(f"{key.replace('_', ' ')} is given twice", "filter")
                data[key] = value
        return data

    def distinct_types(self, children: list[Any]) -> Any:
        return ("types", children[-1])

    def field(self, children: list[Any]) -> Any:
        token = children[0]
        return str(token)[1:-1] if token.type == "QUOTED_NAME" else str(token)

    def period(self, children: list[Any]) -> Any:
        return str(children[0])

    def values(self, children: list[Any]) -> Any:
        return list(children)

    def string(self, children: list[Any]) -> Any:
        try:
            return _Text(json.loads(children[0]))
        except ValueError:
            raise InvalidInput(_at(children[0], "malformed string"), "filter") from None

    def number(self, children: list[Any]) -> Any:
        return _number(children[0])

    def boolean(self, children: list[Any]) -> Any:
        return children[0].type == "TRUE"


class _Step(dict[str, Any]):
    """One step of a sequence (distinguished from its options in `sequence`)."""


class _Text(str):
    """A string value (distinguished from the field name and keyword tokens in `event`)."""


def _number(token: Any) -> int | float:
    text = str(token)
    try:
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    except ValueError:  # e.g. more digits than int() accepts
        raise InvalidInput(_at(token, "number out of range"), "filter") from None


def _at(token: Token, message: str) -> str:
    return f"line {token.line}, column {token.column}: {message}"


@cache
def _parser() -> Lark:
    return Lark(_grammar(), parser="lalr", transformer=_ToJson(), maybe_placeholders=False)


def _syntax_error(text: str, error: UnexpectedInput) -> InvalidInput:
    token = getattr(error, "token", None)
    at_end = isinstance(token, Token) and token.type == "$END"
    if isinstance(error, UnexpectedEOF) or at_end or error.line < 1:
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        return InvalidInput(f"line {line}, column {column}: unexpected end of input", "filter")
    found = getattr(error, "token", None) or getattr(error, "char", "")
    expected = sorted(getattr(error, "expected", None) or getattr(error, "allowed", None) or ())
    hint = f"; expected one of: {', '.join(expected[:12])}" if expected else ""
    message = f"line {error.line}, column {error.column}: unexpected {str(found)!r}{hint}"
    return InvalidInput(message, "filter")


def _with_options(data: dict[str, Any], children: list[Any]) -> dict[str, Any]:
    """An event's or a sequence's options (`(key, value)` children) added to its JSON, each at
    most once."""
    for option in children:
        if isinstance(option, tuple):
            key, value = option
            if key in data:
                raise InvalidInput(f"{key.replace('_', ' ')} is given twice", "filter")
            data[key] = value
    return data


def text_to_json(text: str) -> Any:
    """Text -> filter JSON (not yet validated); syntax errors name the line and column."""
    if not isinstance(text, str):
        raise InvalidInput("expected text", "filter")
    try:
        return _plain(_parser().parse(text))
    except UnexpectedInput as error:
        raise _syntax_error(text, error) from None
    except VisitError as error:
        if isinstance(error.orig_exc, InvalidInput):
            raise error.orig_exc from None
        raise InvalidInput(str(error.orig_exc), "filter") from None
    except (LarkError, RecursionError) as error:
        raise InvalidInput(f"cannot parse the filter: {error}", "filter") from None


def _plain(data: Any) -> Any:
    """Drop the _Text marker type so the JSON is made of plain built-ins."""
    if isinstance(data, dict):  # also a _Step
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    if isinstance(data, str):
        return str(data)
    return data


def parse_text(
    text: str,
    project: Project,
    segments: SegmentSource | None = None,
    *,
    segment_id: int | None = None,
    me: str | None = None,
    audience: str = LEADS,
) -> Node:
    """Text syntax -> validated tree (see grammar.lark): a lead filter, or an account segment's
    filter with `audience` "accounts"; raises InvalidInput."""
    data = text_to_json(text)
    return parse_filter(data, project, segments, segment_id=segment_id, me=me, audience=audience)


# -- printing ----------------------------------------------------------------------------------


def _field(name: str) -> str:
    if _PLAIN_NAME.fullmatch(name) and name not in keywords():
        return name
    return f"`{name}`"


def _scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _values(value: Value) -> str:
    items = value if isinstance(value, tuple) else (value,)
    return "(" + ", ".join(_scalar(v) for v in items if v is not None) + ")"


def _condition(node: Condition) -> str:
    op = OPERATORS[node.op]
    head = f"{_field(node.field)} {op.text}"
    value = node.value
    match op.shape:
        case Shape.NONE:
            return head
        case Shape.PAIR if isinstance(value, tuple):
            return f"{head} {_scalar(value[0])} and {_scalar(value[1])}"
        case Shape.DAYS if isinstance(value, int | float):
            return f"{head} {_scalar(value)} days"
        case Shape.PERIOD:
            return f"{head} {value}"
        case Shape.LIST | Shape.STRINGS:
            return f"{head} {_values(value)}"
        case Shape.SCALAR | Shape.TEXT_OR_LIST | Shape.PAIR | Shape.DAYS:
            if isinstance(value, tuple):
                return f"{head} {_values(value)}"
            assert value is not None
            return f"{head} {_scalar(value)}"
        case _:
            assert_never(op.shape)


def _event(node: EventCondition) -> str:
    words = ["performed" if node.performed else "did not perform", _scalar(node.type)]
    if node.min_count != 1:
        words.append(f"at least {node.min_count} times")
    if node.max_count is not None:
        words.append(f"at most {node.max_count} times")
    if node.within_days is not None:
        words.append(f"within {node.within_days} days")
    if node.older_than_days is not None:
        words.append(f"older than {node.older_than_days} days")
    if node.min_distinct_days is not None:
        words.append(f"on at least {node.min_distinct_days} days")
    if node.aggregate is not None:
        words.append(_aggregate(node.aggregate))
    if node.where is not None:
        words.append(f"where ({to_text(node.where)})")
    return " ".join(words)


def _leads(node: LeadsCondition) -> str:
    words = [f"leads ({to_text(node.where)})"]
    if node.min_count != 1:
        words.append(f"at least {node.min_count}")
    if node.max_count is not None:
        words.append(f"at most {node.max_count}")
    return " ".join(words)


def _aggregate(node: Aggregate) -> str:
    head = f"with {node.fn}({_field(node.path)})"
    if isinstance(node.value, tuple):
        return f"{head} between {_scalar(node.value[0])} and {_scalar(node.value[1])}"
    return f"{head} {OPERATORS[node.op].text} {_scalar(node.value)}"


def _distinct_events(node: DistinctEvents) -> str:
    words = [f"performed {node.count} distinct event{'' if node.count == 1 else 's'}"]
    if node.types is not None:
        words.append(f"of {_values(node.types)}")
    if node.within_days is not None:
        words.append(f"within {node.within_days} days")
    return " ".join(words)


def _step(step: SequenceStep) -> str:
    """A sequence's step, or its not_between: the type and the where, if given."""
    words = _scalar(step.type)
    if step.where is not None:
        words += f" where ({to_text(step.where)})"
    return words


def _sequence(node: EventSequence) -> str:
    text = "performed " + " then ".join(_step(step) for step in node.steps)
    if node.within_days is not None:
        text += f" within {node.within_days} days"
    if node.since_days is not None:
        text += f" starting within {node.since_days} days"
    if node.not_between is not None:
        text += f" without {_step(node.not_between)} in between"
    return text


def _grouped(node: Node) -> str:
    return f"({to_text(node)})" if isinstance(node, And | Or) else to_text(node)


def _joined(children: tuple[Node, ...], joiner: str, single: str) -> str:
    if len(children) == 1:
        return f"{single}({to_text(children[0])})"
    return joiner.join(_grouped(child) for child in children)


def to_text(node: Node) -> str:
    """The tree in the text syntax; `parse_text(to_text(tree)) == tree`."""
    match node:
        case And(children):
            return _joined(children, " and ", single="all")
        case Or(children):
            return _joined(children, " or ", single="any")
        case Not(child):
            return f"not {_grouped(child)}"
        case Condition():
            return _condition(node)
        case EventCondition():
            return _event(node)
        case DistinctEvents():
            return _distinct_events(node)
        case EventSequence():
            return _sequence(node)
        case SegmentRef(segment_id):
            return f"in segment {segment_id}"
        case SegmentTenure(segment_id, days, at_least):
            timing = "for at least" if at_least else "entered within"
            return f"in segment {segment_id} {timing} {days} days"
        case ListRef(list_id):
            return f"in list {list_id}"
        case Bucket(low, high, salt):
            return f"bucket {low} to {high}" + (f" salt {_scalar(salt)}" if salt else "")
        case ManualRef():
            raise ValueError("manual membership is not part of a filter and has no text")
        case LeadsCondition():
            return _leads(node)
        case AccountSegmentRef(segment_id):
            return f"in account segment {segment_id}"
        case _:
            assert_never(node)
