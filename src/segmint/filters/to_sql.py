"""Tree -> SQLAlchemy Core boolean expression over the `leads` table.

`NOT` must be the exact complement of its child, so every condition under a NOT is two-valued
(wrapped in COALESCE(..., false)); elsewhere a NULL comparison is left as it is, since WHERE, AND
and OR treat it exactly like false there, and a bare comparison is one an index can serve.
Relations are written as `leads.id IN (subquery)` over non-null ids, two-valued everywhere.
Event, account and list conditions are set-wise subqueries, each scoped to the project. Values
are always bound parameters; the only names that reach SQL come from the field registry.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, assert_never

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from segmint.bucketing import BUCKETS
from segmint.filters.dialects import Dialect, dialect_for
from segmint.filters.fields import (
    FieldSpec,
    FieldType,
    Storage,
    Table,
    resolve_account_field,
    resolve_event_field,
    resolve_field,
)
from segmint.filters.operators import OPERATORS, SQL_PRIMITIVES, View
from segmint.filters.source import SegmentSource
from segmint.filters.timing import TimeContext
from segmint.filters.tree import (
    ACCOUNTS,
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
    SegmentRef,
    SegmentTenure,
    SequenceStep,
)
from segmint.projects import Project
from segmint.store.db import one_of
from segmint.store.tables import (
    accounts,
    events,
    lead_event_counts,
    leads,
    list_members,
    manual_members,
    segment_members,
)

Expr = ColumnElement[Any]
Predicate = ColumnElement[bool]
Scoper = Callable[[Predicate], Predicate]


def _two_valued(predicate: Predicate) -> Predicate:
    return sa.func.coalesce(predicate, sa.false(), type_=sa.Boolean)


def _as_is(predicate: Predicate) -> Predicate:
    return predicate


def _flipped(scoper: Scoper) -> Scoper:
    """The scoper for the other side of a negation (an account scoper is two-valued anyway)."""
    if scoper is _as_is:
        return _two_valued
    if scoper is _two_valued:
        return _as_is
    return scoper


@dataclass(frozen=True)
class CompileContext:
    project: Project
    dialect: Dialect
    time: TimeContext
    segments: SegmentSource | None = None
    inlining: tuple[int, ...] = ()  # segments being inlined: a guard against stored cycles
    in_event: bool = False
    negated: bool = False  # under an odd number of NOTs: conditions must be two-valued
    # Only these leads will be asked about (a membership sync after a write): event and list
    # subqueries are limited to them, or every sync would aggregate the project's events.
    lead_ids: tuple[int, ...] | None = None
    # Whose filter this part of the tree is: over `leads`, or over `accounts` (an account
    # segment's filter, outside its `leads` nodes).
    audience: str = LEADS


# -- operands ----------------------------------------------------------------------------------


def _blank_to_null(folded: Expr) -> Expr:
    # '' as SQL text, not a bound parameter: expression indexes (migration 0006) are written
    # with the constant, and PostgreSQL matches an index only on an identical expression.
    return sa.func.nullif(folded, sa.literal_column("''"), type_=sa.String)


@dataclass(frozen=True)
class ScalarOperand:
    """A plain SQL expression: a column, `name`, `enrichment_status`."""

    expr: Expr
    type: FieldType
    dialect: Dialect
    scoper: Scoper

    def view(self, kind: View) -> Expr:
        if kind is View.TEXT:
            return _blank_to_null(self.dialect.fold(self.expr))
        if kind in (View.NUMBER, View.INSTANT):
            return self.expr
        raise TypeError(f"a {self.type} column has no {kind} view")

    def present(self) -> Predicate:
        if self.type in (FieldType.TEXT, FieldType.SELECT):
            return sa.and_(self.expr.is_not(None), self.dialect.fold(self.expr) != "")
        return self.expr.is_not(None)

    def has_elements(self, values: tuple[str, ...], every: bool) -> Predicate:
        raise TypeError(f"a {self.type} column has no elements")

    def any_element(self, primitive: str, argument: Any) -> Predicate:
        raise TypeError(f"a {self.type} column has no elements")

    def scope(self, predicate: Predicate) -> Predicate:
        return self.scoper(predicate)

    def flipped(self) -> ScalarOperand:
        """This operand for the positive half of a negation operator (`neq` = NOT `eq`)."""
        return replace(self, scoper=_flipped(self.scoper))


@dataclass(frozen=True)
class JsonOperand:
    """A value at a path inside a JSON column (also `tags`, at the empty path)."""

    column: Expr
    path: tuple[str, ...]
    dialect: Dialect
    scoper: Scoper

    def _text(self) -> Expr:
        return self.dialect.json_text(self.column, self.path)

    def view(self, kind: View) -> Expr:
        if kind is View.TEXT:
            return _blank_to_null(self.dialect.fold(self._text()))
        if kind is View.NUMBER:
            return self.dialect.json_number(self.column, self.path)
        if kind is View.BOOLEAN:
            return self.dialect.json_bool(self.column, self.path)
        if kind is View.DATE:
            text = self._text()
            date = sa.case((self.dialect.fold(text) != "", sa.func.substr(text, 1, 10)))
            return self.dialect.ordered_text(sa.type_coerce(date, sa.String))
        raise TypeError(f"a JSON value has no {kind} view")

    def present(self) -> Predicate:
        return self.dialect.json_present(self.column, self.path, self.dialect.fold)

    def has_elements(self, values: tuple[str, ...], every: bool) -> Predicate:
        return self.dialect.json_has_elements(self.dialect, self.column, self.path, values, every)

    def any_element(self, primitive: str, argument: Any) -> Predicate:
        """Some string element of the array here, read as TEXT, satisfies the primitive."""
        if primitive in ("eq", "in"):
            # Equality with a folded value is `has any`: the same answer, and on PostgreSQL the
            # containment a GIN index on the folded elements serves.
            wanted = (argument,) if primitive == "eq" else tuple(argument)
            return self.has_elements(wanted, every=False)
        each, text, is_string = self.dialect.json_elements(self.column, self.path)
        folded = _blank_to_null(self.dialect.fold(text))
        matching = sa.and_(is_string, SQL_PRIMITIVES[primitive](folded, argument))
        return sa.exists(sa.select(sa.literal(1)).select_from(each).where(matching))

    def scope(self, predicate: Predicate) -> Predicate:
        return self.scoper(predicate)

    def flipped(self) -> JsonOperand:
        """This operand for the positive half of a negation operator (`neq` = NOT `eq`)."""
        return replace(self, scoper=_flipped(self.scoper))


def _account_scoper(project_id: int) -> Scoper:
    def scope(predicate: Predicate) -> Predicate:
        # Never correlated: inside an account filter's `leads` node an enclosing query reads
        # `accounts` too, and this must stay a query of its own over the project's accounts.
        matching = (
            sa.select(accounts.c.id)
            .where(accounts.c.project_id == project_id, _two_valued(predicate))
            .correlate(None)
        )
        return sa.and_(leads.c.account_id.is_not(None), leads.c.account_id.in_(matching))

    return scope


def _name_expr() -> Expr:
    first = sa.func.coalesce(leads.c.first_name, "", type_=sa.String)
    last = sa.func.coalesce(leads.c.last_name, "", type_=sa.String)
    return first + " " + last


def _operand(spec: FieldSpec, ctx: CompileContext) -> ScalarOperand | JsonOperand:
    table = {Table.LEADS: leads, Table.ACCOUNTS: accounts, Table.EVENTS: events}[spec.table]
    if spec.table is Table.ACCOUNTS and ctx.audience == LEADS:
        scoper = _account_scoper(ctx.project.id)
    else:
        scoper = _two_valued if ctx.negated else _as_is
    dialect = ctx.dialect
    if spec.storage is Storage.JSON or spec.type is FieldType.TAGS:
        return JsonOperand(table.c[spec.column], spec.path, dialect, scoper)
    if spec.storage is Storage.NAME:
        return ScalarOperand(_name_expr(), spec.type, dialect, scoper)
    if spec.storage is Storage.ENRICHMENT_STATUS:
        enriched = dialect.json_non_empty_object(leads.c.enrichment)
        status = sa.case((enriched, "enriched"), else_="not_enriched")
        return ScalarOperand(status, spec.type, dialect, scoper)
    return ScalarOperand(table.c[spec.column], spec.type, dialect, scoper)


# -- nodes -------------------------------------------------------------------------------------


def _condition(node: Condition, ctx: CompileContext) -> Predicate:
    if ctx.in_event:
        spec = resolve_event_field(node.field)
    elif ctx.audience == ACCOUNTS:
        spec = resolve_account_field(node.field)
    else:
        spec = resolve_field(node.field, ctx.project)
    op = OPERATORS.get(node.op)
    if op is None:
        raise ValueError(f"unknown operator {node.op!r}")
    return op.sql(_operand(spec, ctx), spec, node.value, ctx.time)


def _window(
    within_days: int | None, older_than_days: int | None, ctx: CompileContext
) -> list[Predicate]:
    """`within_days`: now - D <= occurred_at <= now; `older_than_days`: before now - D2."""
    occurred = events.c.occurred_at
    conditions: list[Predicate] = []
    if within_days is not None:
        since = ctx.time.now - timedelta(days=within_days)
        conditions += [occurred >= since, occurred <= ctx.time.now]
    if older_than_days is not None:
        conditions.append(occurred < ctx.time.now - timedelta(days=older_than_days))
    return conditions


def _event_conditions(node: EventCondition, ctx: CompileContext) -> list[Predicate]:
    """The events an event condition counts: its type, window and `where`."""
    conditions: list[Predicate] = [
        events.c.project_id == ctx.project.id,
        events.c.type == node.type,
    ]
    conditions += _window(node.within_days, node.older_than_days, ctx)
    if node.where is not None:
        # The where clause is the WHERE of its own subquery: a fresh, positive context.
        conditions.append(compile_node(node.where, replace(ctx, in_event=True, negated=False)))
    return conditions


def _event_lead_ids(node: EventCondition, ctx: CompileContext) -> sa.Select[Any]:
    conditions = _event_conditions(node, ctx)
    if ctx.lead_ids is not None:
        conditions.append(one_of(events.c.lead_id, ctx.lead_ids, ctx.dialect.name))
    return sa.select(events.c.lead_id).where(*conditions).group_by(events.c.lead_id)


def _event_exists(node: EventCondition, ctx: CompileContext) -> Predicate:
    """At least one such event, as EXISTS: PostgreSQL plans it as a semi-join, and its
    negation ("never", "did not") as an anti-join, where NOT IN (...) could only filter every
    lead through a hashed subplan (finding 10 in docs/performance.md)."""
    correlated = sa.and_(*_event_conditions(node, ctx), events.c.lead_id == leads.c.id)
    return sa.exists(sa.select(sa.literal(1)).where(correlated))


def _counted(node: EventCondition, ctx: CompileContext, *totals: Predicate) -> Predicate:
    """The lead's counter of this event type (migration 0008) satisfies `totals`: for
    conditions over all time with no `where`, one row per lead instead of all its events."""
    c = lead_event_counts.c
    return sa.exists(
        sa.select(sa.literal(1)).where(
            c.project_id == ctx.project.id,
            c.type == node.type,
            c.lead_id == leads.c.id,
            *totals,
        )
    )


def _event_from_counters(node: EventCondition, ctx: CompileContext) -> Predicate:
    total = lead_event_counts.c.total
    if node.min_count >= 1:
        bounds = [total >= node.min_count]
        if node.max_count is not None:
            bounds.append(total <= node.max_count)
        matched: Predicate = _counted(node, ctx, *bounds)
    elif node.max_count is None:
        matched = sa.true()  # at least zero events: everyone
    else:  # zero events count too: the complement of "more than max_count"
        matched = sa.not_(_counted(node, ctx, total > node.max_count))
    return matched if node.performed else sa.not_(matched)


def _aggregate_holds(node: Aggregate, ctx: CompileContext) -> Predicate:
    """The aggregate's test in a HAVING, two-valued: a null aggregate (no number) matches
    `neq` only, as a null field matches only the negative operators."""
    number = _operand(resolve_event_field(node.path), replace(ctx, in_event=True))
    value = number.view(View.NUMBER)
    if node.fn == "sum":  # as a float: SQLite's integer sum raises on overflow
        value = sa.cast(value, sa.Float)
    total = getattr(sa.func, node.fn)(value, type_=sa.Float)
    wanted = node.value
    if isinstance(wanted, tuple):
        return _two_valued(sa.and_(total >= wanted[0], total <= wanted[1]))
    if node.op == "neq":
        return sa.not_(_two_valued(total == wanted))
    tests = {
        "eq": total == wanted,
        "gt": total > wanted,
        "gte": total >= wanted,
        "lt": total < wanted,
        "lte": total <= wanted,
    }
    return _two_valued(tests[node.op])


def _grouped_tests(node: EventCondition, ctx: CompileContext) -> list[Predicate]:
    """The HAVING of a lead's matching events: counts, distinct local days, aggregate."""
    count = sa.func.count()
    tests: list[Predicate] = [count >= max(node.min_count, 1)]
    if node.max_count is not None:
        tests.append(count <= node.max_count)
    if node.min_distinct_days is not None:
        day = ctx.dialect.local_date(events.c.occurred_at, ctx.project.zone.key)
        tests.append(sa.func.count(sa.distinct(day)) >= node.min_distinct_days)
    if node.aggregate is not None:
        tests.append(_aggregate_holds(node.aggregate, ctx))
    return tests


def _event_grouped(node: EventCondition, ctx: CompileContext) -> Predicate:
    """An event condition with `min_distinct_days` or `aggregate`: one group per lead with
    matching events, tested by HAVING; a lead with none matches when zero events may (min_count
    0, no distinct days asked for, and an aggregate whose null matches: `neq`)."""
    lead_ids = _event_lead_ids(node, ctx)
    matched: Predicate = leads.c.id.in_(lead_ids.having(sa.and_(*_grouped_tests(node, ctx))))
    none_ok = (
        node.min_count == 0
        and node.min_distinct_days is None
        and (node.aggregate is None or node.aggregate.op == "neq")
    )
    if none_ok:
        matched = sa.or_(matched, sa.not_(leads.c.id.in_(lead_ids)))
    return matched if node.performed else sa.not_(matched)


def _event(node: EventCondition, ctx: CompileContext) -> Predicate:
    if node.min_distinct_days is not None or node.aggregate is not None:
        return _event_grouped(node, ctx)
    if node.within_days is None and node.older_than_days is None and node.where is None:
        return _event_from_counters(node, ctx)
    if node.min_count == 1 and node.max_count is None:
        found = _event_exists(node, ctx)
        return found if node.performed else sa.not_(found)
    if node.min_count == 0 and node.max_count == 0:  # "no such event"
        found = _event_exists(node, ctx)
        return sa.not_(found) if node.performed else found
    lead_ids = _event_lead_ids(node, ctx)
    count = sa.func.count()
    if node.min_count >= 1:
        having = [count >= node.min_count]
        if node.max_count is not None:
            having.append(count <= node.max_count)
        matched: Predicate = leads.c.id.in_(lead_ids.having(sa.and_(*having)))
    elif node.max_count is None:
        matched = sa.true()  # at least zero events: everyone
    else:  # zero events count too: the complement of "more than max_count"
        matched = sa.not_(leads.c.id.in_(lead_ids.having(count > node.max_count)))
    return matched if node.performed else sa.not_(matched)


def _distinct_events(node: DistinctEvents, ctx: CompileContext) -> Predicate:
    """Leads with events of at least N distinct types (of the listed ones) in the window."""
    conditions: list[Predicate] = [events.c.project_id == ctx.project.id]
    if node.types is not None:
        conditions.append(events.c.type.in_(node.types))
    conditions += _window(node.within_days, None, ctx)
    if ctx.lead_ids is not None:
        conditions.append(one_of(events.c.lead_id, ctx.lead_ids, ctx.dialect.name))
    types = sa.func.count(sa.distinct(events.c.type))
    lead_ids = sa.select(events.c.lead_id).where(*conditions).group_by(events.c.lead_id)
    return leads.c.id.in_(lead_ids.having(types >= node.count))


def _step_conditions(step: SequenceStep, ctx: CompileContext) -> list[Predicate]:
    """The events one step of a sequence may use: its type and `where` (over `events`)."""
    conditions: list[Predicate] = [
        events.c.project_id == ctx.project.id,
        events.c.type == step.type,
    ]
    if step.where is not None:
        conditions.append(compile_node(step.where, replace(ctx, in_event=True, negated=False)))
    return conditions


def _plus_days(moment: Expr, days: int, ctx: CompileContext) -> Expr:
    """`moment` + whole days, exactly to the microsecond on both databases. SQLite holds a
    moment as 'YYYY-MM-DD HH:MM:SS.ffffff' text; its datetime() keeps only milliseconds (and
    rounds), so the days are added to the whole seconds and the fraction is put back as it was."""
    if ctx.dialect.name == "sqlite":
        seconds = sa.func.datetime(sa.func.substr(moment, 1, 19), f"+{days} days")
        return sa.type_coerce(seconds.concat(sa.func.substr(moment, 20)), sa.String)
    return moment + sa.bindparam(None, timedelta(days=days), type_=sa.Interval())


def _first_steps(node: EventSequence, ctx: CompileContext) -> sa.Subquery:
    """(lead_id, started, at) of each first step a sequence may start from. With within_days or
    not_between every distinct e1 is a start of its own (the window, and the span that must hold
    no excluded event, are measured from it); without, only each lead's earliest e1 is: any
    chain from a later e1 also starts from the earliest."""
    conditions = _step_conditions(node.steps[0], ctx)
    if node.since_days is not None:
        since = ctx.time.now - timedelta(days=node.since_days)
        conditions += [events.c.occurred_at >= since, events.c.occurred_at <= ctx.time.now]
    if ctx.lead_ids is not None:
        conditions.append(one_of(events.c.lead_id, ctx.lead_ids, ctx.dialect.name))
    occurred = events.c.occurred_at
    if node.within_days is None and node.not_between is None:
        first = sa.func.min(occurred)
        chosen = sa.select(events.c.lead_id, first.label("started"), first.label("at"))
        return chosen.where(*conditions).group_by(events.c.lead_id).subquery()
    starts = sa.select(events.c.lead_id, occurred.label("started"), occurred.label("at"))
    return starts.where(*conditions).distinct().subquery()


def _next_step(
    step: SequenceStep, previous: sa.Subquery, node: EventSequence, ctx: CompileContext
) -> sa.Subquery:
    """For each start, the earliest event of `step` strictly after the previous step's event.
    Greedy is exact: the earliest choice at every step leaves the most room for the next ones
    and ends the chain soonest, so if any chain from a start fits the window this one does."""
    occurred = events.c.occurred_at
    conditions = [
        *_step_conditions(step, ctx),
        events.c.lead_id == previous.c.lead_id,
        occurred > previous.c.at,
    ]
    if node.within_days is not None:
        conditions.append(occurred <= _plus_days(previous.c.started, node.within_days, ctx))
    chosen = sa.select(previous.c.lead_id, previous.c.started, sa.func.min(occurred).label("at"))
    chosen = chosen.select_from(previous.join(events, sa.and_(*conditions)))
    return chosen.group_by(previous.c.lead_id, previous.c.started).subquery()


def _sequence(node: EventSequence, ctx: CompileContext) -> Predicate:
    """Leads with a chain of the steps' events at strictly increasing times: set-wise, one
    grouped join per step over the previous step's choices (no per-lead subquery)."""
    chain = _first_steps(node, ctx)
    for step in node.steps[1:]:
        chain = _next_step(step, chain, node, ctx)
    conditions: list[Predicate] = [chain.c.lead_id.is_not(None)]
    if node.not_between is not None:
        conditions.append(sa.not_(_excluded_between(node.not_between, chain, ctx)))
    return leads.c.id.in_(sa.select(chain.c.lead_id).where(*conditions))


def _excluded_between(step: SequenceStep, chain: sa.Subquery, ctx: CompileContext) -> Predicate:
    """An event of not_between's type and where strictly between a chain's first and last
    events. The greedy chain ends soonest, so when its span holds one, every chain's from that
    start does."""
    occurred = events.c.occurred_at
    inside = sa.select(events.c.id).where(
        *_step_conditions(step, ctx),
        events.c.lead_id == chain.c.lead_id,
        occurred > chain.c.started,
        occurred < chain.c.at,
    )
    return inside.exists()


def _segment(node: SegmentRef, ctx: CompileContext) -> Predicate:
    from segmint.filters.parse import referenced_tree

    tree = referenced_tree(node.segment_id, ctx.segments, ctx.inlining, ctx.project, ctx.audience)
    return compile_node(tree, replace(ctx, inlining=(*ctx.inlining, node.segment_id)))


def _account_leads(node: LeadsCondition, ctx: CompileContext) -> Predicate:
    """The account's leads matching `where` number min_count..max_count: a subquery over
    `leads` correlated to the enclosing `accounts` row only (the lead filter inside reads
    `leads` as its own, and may read `accounts` again through `account.*`)."""
    # The lead filter is the WHERE of its own subquery: a fresh, positive context, for every
    # lead of the account (not only those a sync asks about).
    inner = replace(ctx, audience=LEADS, negated=False, lead_ids=None, in_event=False)
    matching = sa.and_(
        leads.c.project_id == ctx.project.id,
        leads.c.account_id == accounts.c.id,
        compile_node(node.where, inner),
    )
    if node.min_count == 1 and node.max_count is None:
        return sa.exists(sa.select(sa.literal(1)).where(matching)).correlate(accounts)
    if node.min_count == 0 and node.max_count is None:
        return sa.true()  # at least zero leads: every account
    if node.min_count == 0 and node.max_count == 0:
        return sa.not_(sa.exists(sa.select(sa.literal(1)).where(matching)).correlate(accounts))
    count = sa.select(sa.func.count()).where(matching).correlate(accounts).scalar_subquery()
    bounds = [count >= node.min_count] if node.min_count else []
    if node.max_count is not None:
        bounds.append(count <= node.max_count)
    return sa.and_(*bounds)


def _in_account_segment(node: AccountSegmentRef, ctx: CompileContext) -> Predicate:
    """The lead's account is a member of the account segment: its tree over `accounts`, as a
    query of its own (never correlated to an enclosing `accounts`)."""
    from segmint.filters.parse import referenced_tree

    tree = referenced_tree(node.segment_id, ctx.segments, ctx.inlining, ctx.project, ACCOUNTS)
    inner = replace(
        ctx,
        audience=ACCOUNTS,
        negated=False,
        lead_ids=None,
        inlining=(*ctx.inlining, node.segment_id),
    )
    members = (
        sa.select(accounts.c.id)
        .where(accounts.c.project_id == ctx.project.id, compile_node(tree, inner))
        .correlate(None)
    )
    return sa.and_(leads.c.account_id.is_not(None), leads.c.account_id.in_(members))


def _tenure(node: SegmentTenure, ctx: CompileContext) -> Predicate:
    """Members of the segment's maintained membership whose current membership began at least /
    within `days` days before now (and not after now: see evaluate._tenure)."""
    c = segment_members.c
    now = ctx.time.now
    boundary = now - timedelta(days=node.days)
    began = [c.entered_at <= boundary] if node.at_least else [c.entered_at > boundary]
    members = sa.select(c.lead_id).where(
        c.project_id == ctx.project.id, c.segment_id == node.segment_id, c.entered_at <= now, *began
    )
    if ctx.lead_ids is not None:
        members = members.where(one_of(c.lead_id, ctx.lead_ids, ctx.dialect.name))
    return leads.c.id.in_(members)


def _list(node: ListRef, ctx: CompileContext) -> Predicate:
    members = sa.select(list_members.c.lead_id).where(
        list_members.c.project_id == ctx.project.id, list_members.c.list_id == node.list_id
    )
    if ctx.lead_ids is not None:
        members = members.where(one_of(list_members.c.lead_id, ctx.lead_ids, ctx.dialect.name))
    return leads.c.id.in_(members)


def _manual(node: ManualRef, ctx: CompileContext) -> Predicate:
    c = manual_members.c
    chosen = sa.select(c.lead_id).where(
        c.project_id == ctx.project.id, c.segment_id == node.segment_id, c.kind == node.kind
    )
    if ctx.lead_ids is not None:
        chosen = chosen.where(one_of(c.lead_id, ctx.lead_ids, ctx.dialect.name))
    return leads.c.id.in_(chosen)


def _bucket(node: Bucket, ctx: CompileContext) -> Predicate:
    """low <= bucket < high with the bucket written once (a second copy would hash every lead
    twice): the distance from low around the circle of 100 buckets is below high - low. Never
    null (an id is not), so two-valued under a NOT as it is."""
    bucket = ctx.dialect.bucket(node.salt, leads.c.id)
    return (bucket + (BUCKETS - node.low)) % BUCKETS < node.high - node.low


def compile_node(node: Node, ctx: CompileContext) -> Predicate:
    """One node -> a two-valued SQL boolean (mypy names any node type not handled here)."""
    match node:
        case And(children):
            return sa.and_(*(compile_node(child, ctx) for child in children))
        case Or(children):
            return sa.or_(*(compile_node(child, ctx) for child in children))
        case Not(child):
            return sa.not_(compile_node(child, replace(ctx, negated=not ctx.negated)))
        case Condition():
            return _condition(node, ctx)
        case EventCondition():
            return _event(node, ctx)
        case DistinctEvents():
            return _distinct_events(node, ctx)
        case EventSequence():
            return _sequence(node, ctx)
        case SegmentRef():
            return _segment(node, ctx)
        case SegmentTenure():
            return _tenure(node, ctx)
        case ListRef():
            return _list(node, ctx)
        case ManualRef():
            return _manual(node, ctx)
        case LeadsCondition():
            return _account_leads(node, ctx)
        case AccountSegmentRef():
            return _in_account_segment(node, ctx)
        case Bucket():
            return _bucket(node, ctx)
        case _:
            assert_never(node)


def compile_filter(
    node: Node,
    project: Project,
    now: datetime,
    dialect_name: str,
    segments: SegmentSource | None = None,
    lead_ids: Collection[int] | None = None,
) -> Predicate:
    """The filter as a boolean over `leads` (combine with the project scope, or use
    `select_lead_ids`). `now` fixes every relative date; `dialect_name` is `engine.dialect.name`.
    With `lead_ids`, the answer is right only for those leads (the caller limits to them too).
    """
    ctx = CompileContext(
        project,
        dialect_for(dialect_name),
        TimeContext.of(now, project.zone),
        segments,
        lead_ids=None if lead_ids is None else tuple(sorted(set(lead_ids))),
    )
    return compile_node(node, ctx)


def event_predicates(
    node: EventCondition, project: Project, now: datetime, dialect_name: str
) -> list[Predicate]:
    """The WHERE over `events` of the events an event condition counts (type, window, `where`):
    for code that aggregates those events itself (engagement scoring)."""
    ctx = CompileContext(project, dialect_for(dialect_name), TimeContext.of(now, project.zone))
    return _event_conditions(node, ctx)


def select_lead_ids(
    node: Node,
    project: Project,
    now: datetime,
    dialect_name: str,
    segments: SegmentSource | None = None,
) -> sa.Select[tuple[int]]:
    """`SELECT leads.id FROM leads WHERE project_id = :p AND <filter>`."""
    expr = compile_filter(node, project, now, dialect_name, segments)
    return sa.select(leads.c.id).where(leads.c.project_id == project.id, expr)


def compile_account_filter(
    node: Node,
    project: Project,
    now: datetime,
    dialect_name: str,
    segments: SegmentSource | None = None,
) -> Predicate:
    """An account segment's filter as a boolean over `accounts` (combine with the project
    scope, or use `select_account_ids`)."""
    ctx = CompileContext(
        project,
        dialect_for(dialect_name),
        TimeContext.of(now, project.zone),
        segments,
        audience=ACCOUNTS,
    )
    return compile_node(node, ctx)


def select_account_ids(
    node: Node,
    project: Project,
    now: datetime,
    dialect_name: str,
    segments: SegmentSource | None = None,
) -> sa.Select[tuple[int]]:
    """`SELECT accounts.id FROM accounts WHERE project_id = :p AND <account filter>`."""
    expr = compile_account_filter(node, project, now, dialect_name, segments)
    return sa.select(accounts.c.id).where(accounts.c.project_id == project.id, expr)
