"""The one adapter between the filter language and the database: filters validated against the
project's stored segments and lists, compiled for the connection's database, evaluated for
leads loaded as the evaluator takes them. `segmint.filters` itself does no I/O."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, overload

import sqlalchemy as sa

from segmint.auth import Principal
from segmint.errors import InvalidInput, NotFound
from segmint.filters import (
    SegmentSource,
    compile_filter,
    evaluate,
    explain,
    parse_filter,
    to_json,
)
from segmint.filters.describe import describe as _describe
from segmint.filters.parse import (
    MANUAL_KINDS,
    check_readable,
    check_readable_refs,
    membership_tree,
    stored_list_ids,
    stored_segment_ids,
)
from segmint.filters.syntax import parse_text as _parse_text
from segmint.filters.syntax import to_text
from segmint.filters.tree import LEADS, Node
from segmint.projects import Project
from segmint.store.tables import (
    accounts,
    events,
    leads,
    list_members,
    lists,
    manual_members,
    segment_members,
    segments,
)

__all__ = ["referenced_segments", "to_json", "to_text"]

SEARCHED_FIELDS = ("name", "email", "company")
K = TypeVar("K")


def source_for(conn: sa.Connection, project: Project, reader: Principal | None) -> StoredSegments:
    """The project's segments and lists as `reader` may refer to them (None: the system, which
    may refer to all). Lists are the project's shared data: anyone in it may read them."""
    only = reader.user_id if reader is not None and reader.reads_only_own_segments else None
    return StoredSegments(conn, project.id, only_created_by=only)


def validate(
    conn: sa.Connection,
    project: Project,
    data: Any,
    segment_id: int | None = None,
    *,
    reader: Principal | None,
    me: str | None = None,
    audience: str = "leads",
    source: SegmentSource | None = None,
) -> Node:
    """A filter from user input, checked against the project's fields, segments and lists:
    every segment it refers to must be one `reader` may read (403 naming the reference).
    "Assigned to me" means `me`, by default the reader (a segment's edit passes its creator).
    `audience` "accounts": an account segment's filter. `source`: the segments and lists as
    read otherwise than by `reader` (an import: `ImportedSegments`)."""
    if data is None:
        raise InvalidInput("a segment needs at least one condition", "filter")
    source = source or source_for(conn, project, reader)
    me = me or reader_email(reader)
    return parse_filter(data, project, source, segment_id=segment_id, me=me, audience=audience)


def reader_email(reader: Principal | None) -> str | None:
    return reader.email if reader is not None else None


def check_stored_readable(
    conn: sa.Connection, project: Project, reader: Principal, stored: Any
) -> None:
    """A saved filter may be evaluated for `reader` only when it reaches no segment they may
    not read; else 403 naming the reference."""
    if reader.reads_only_own_segments:
        check_readable(stored, source_for(conn, project, reader))


def check_segments_readable(
    conn: sa.Connection, project: Project, reader: Principal, refs: list[tuple[int, str]]
) -> None:
    """Segments named outside a filter (a campaign's targeting), each with its JSON path, under
    the same rule as `in_segment`."""
    if reader.reads_only_own_segments:
        check_readable_refs(refs, source_for(conn, project, reader))


def parse_text(
    conn: sa.Connection,
    project: Project,
    text: str,
    *,
    reader: Principal | None,
    audience: str = LEADS,
) -> Node:
    source = source_for(conn, project, reader)
    return _parse_text(text, project, source, me=reader_email(reader), audience=audience)


def load(project: Project, stored: Any, audience: str = "leads") -> Node:
    """A stored filter (validated when saved) back into a tree."""
    return parse_filter(stored, project, audience=audience)


def segment_tree(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    stored: Any,
    kinds: Collection[str] | None = None,
) -> Node:
    """Who is in a saved segment, as a tree: its stored filter with its manual includes and
    excludes around it (`parse.membership_tree`, which `in_segment` references go through
    too). Every answer of a segment's members (counts, pages, exports, the maintained
    membership, campaigns) starts here, never from the bare filter. `kinds`: the segment's
    manual kinds when the caller read them already (`manual_kinds_of`)."""
    if kinds is None:
        kinds = StoredSegments(conn, project.id).manual_kinds(segment_id)
    return membership_tree(segment_id, load(project, stored), kinds)


def manual_kinds_of(
    conn: sa.Connection, project: Project, segment_ids: Collection[int]
) -> dict[int, frozenset[str]]:
    """Which manual kinds each of these segments has, in one query (a segments list)."""
    c = manual_members.c
    found: dict[int, set[str]] = {i: set() for i in segment_ids}
    if segment_ids:
        rows = conn.execute(
            sa.select(c.segment_id, c.kind)
            .where(c.project_id == project.id, c.segment_id.in_(sorted(segment_ids)))
            .group_by(c.segment_id, c.kind)
        )
        for segment_id, kind in rows:
            found[segment_id].add(kind)
    return {i: frozenset(kinds) for i, kinds in found.items()}


def referenced_segments(stored: Any) -> set[int]:
    return stored_segment_ids(stored)


def condition(
    conn: sa.Connection,
    project: Project,
    node: Node,
    now: datetime,
    lead_ids: Collection[int] | None = None,
) -> sa.ColumnElement[bool]:
    """The filter as a boolean over `leads` for this connection's database (right only for
    `lead_ids`, when given: the caller must limit the query to them)."""
    return compile_filter(
        node,
        project,
        now,
        conn.dialect.name,
        StoredSegments(conn, project.id),
        lead_ids,
    )


def search_tree(project: Project, q: str | None) -> Node | None:
    """`q` searched in name, email and company with the language's `contains` rules."""
    if q is None or not q.strip():
        return None
    # Through the validator like any filter: a NUL or an over-long search is a clear 422.
    search = {"or": [{"field": f, "op": "contains", "value": q.strip()} for f in SEARCHED_FIELDS]}
    return parse_filter(search, project, path="q")


def lead_filters(
    conn: sa.Connection,
    project: Project,
    filter_json: str | None,
    q: str | None,
    reader: Principal | None,
) -> tuple[Node, ...]:
    """The `filter` (JSON text) and `q` parameters of a lead listing, as trees all leads listed
    must match."""
    trees: list[Node] = []
    if filter_json is not None and filter_json.strip():
        try:
            data = json.loads(filter_json)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"not valid JSON ({exc.msg})", "filter") from None
        trees.append(validate(conn, project, data, reader=reader))
    search = search_tree(project, q)
    if search is not None:
        trees.append(search)
    return tuple(trees)


def explain_lead(
    conn: sa.Connection, project: Project, node: Node, lead_id: int, now: datetime
) -> dict[str, Any]:
    """Each node's result and the lead's value: the "why they match" of a member."""
    lead, lead_events = load_lead(conn, project.id, lead_id)
    with_account_leads(conn, project.id, lead)
    source = StoredSegments(conn, project.id)
    result = explain(node, lead, lead_events, now, project=project, segments=source)
    nodes = list(_explained_nodes(result))  # those of inlined segments too
    named = ("in_segment", "segment_time")  # both name the segment they read
    segment_ids = {n["segment_id"] for n in nodes if n["type"] in named}
    list_ids = {n["list_id"] for n in nodes if n["type"] == "in_list"}
    segment_names, list_names = _names(conn, project, segment_ids, list_ids)
    for n in nodes:
        if n["type"] in named:
            n["name"] = segment_names.get(n["segment_id"])
        elif n["type"] == "in_list":
            n["name"] = list_names.get(n["list_id"])
    return {"lead_id": lead_id, **result}


def describe(
    conn: sa.Connection, project: Project, node: Node, audience: str = "leads"
) -> dict[str, Any]:
    """The filter in words, naming the segments and lists it refers to (None once deleted)."""
    stored = to_json(node)
    ids = stored_segment_ids(stored), stored_list_ids(stored)
    segment_names, list_names = _names(conn, project, *ids)
    return _describe(node, project, segment_names.get, list_names.get, audience=audience)


def describe_stored(
    conn: sa.Connection,
    project: Project,
    reader: Principal,
    stored: Mapping[K, Any],
    audiences: Mapping[K, str] | None = None,
) -> dict[K, dict[str, Any] | None]:
    """Several saved filters in words (a segments list, a version history), with two queries
    in all for the names they refer to. None for a filter `reader` may not evaluate (it reaches
    a segment of someone else's, see check_stored_readable) or that no longer loads (a custom
    field it names was deleted)."""
    segment_ids = set().union(*(stored_segment_ids(f) for f in stored.values()))
    list_ids = set().union(*(stored_list_ids(f) for f in stored.values()))
    segment_rows = _named_rows(conn, project, segments, segment_ids, segments.c.created_by)
    segment_names = {row.id: row.name for row in segment_rows}
    list_names = {row.id: row.name for row in _named_rows(conn, project, lists, list_ids)}
    unreadable = {
        row.id
        for row in segment_rows
        if reader.reads_only_own_segments and row.created_by != reader.user_id
    }
    words: dict[K, dict[str, Any] | None] = {}
    for key, data in stored.items():
        words[key] = None
        if stored_segment_ids(data) & unreadable:
            continue
        audience = (audiences or {}).get(key, "leads")
        try:
            tree = load(project, data, audience)
        except InvalidInput:
            continue
        words[key] = _describe(tree, project, segment_names.get, list_names.get, audience=audience)
    return words


def _named_rows(
    conn: sa.Connection, project: Project, table: sa.Table, ids: set[int], *more: Any
) -> list[sa.Row[Any]]:
    if not ids:
        return []
    query = sa.select(table.c.id, table.c.name, *more).where(
        table.c.project_id == project.id, table.c.id.in_(sorted(ids))
    )
    return list(conn.execute(query))


def _names(
    conn: sa.Connection, project: Project, segment_ids: set[int], list_ids: set[int]
) -> tuple[dict[int, str], dict[int, str]]:
    """Names of these segments and lists: one query each, and none when there are none."""
    return (
        {row.id: row.name for row in _named_rows(conn, project, segments, segment_ids)},
        {row.id: row.name for row in _named_rows(conn, project, lists, list_ids)},
    )


def _explained_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("children", ()):
        yield from _explained_nodes(child)
    if "child" in node:
        yield from _explained_nodes(node["child"])


def segments_containing(
    conn: sa.Connection, project: Project, segment_rows: list[Any], lead_id: int, now: datetime
) -> set[int]:
    """Ids of the given segments the lead matches at `now`, evaluated in Python from one load
    (manual members too: for one lead, a kind the segment has none of simply never matches)."""
    lead, lead_events = load_lead(conn, project.id, lead_id)
    source = StoredSegments(conn, project.id)

    def tree(row: Any) -> Node:
        return membership_tree(row.id, load(project, row.filter), MANUAL_KINDS)

    return {
        row.id
        for row in segment_rows
        if evaluate(tree(row), lead, lead_events, now, project=project, segments=source)
    }


# -- what the filter language reads from the store ----------------------------------------


class StoredSegments:
    """Reads the `segments` and `lists` tables of one project through a connection.

    `only_created_by`: the caller may read only the segments this user created (a member);
    None: every segment of the project (owners, admins, the system itself).
    """

    def __init__(
        self, conn: sa.Connection, project_id: int, only_created_by: int | None = None
    ) -> None:
        self._conn = conn
        self._project_id = project_id
        self._only_created_by = only_created_by

    def _row(self, segment_id: int) -> sa.Row[Any, int | None, str] | None:
        return self._conn.execute(
            sa.select(segments.c.filter, segments.c.created_by, segments.c.audience).where(
                segments.c.project_id == self._project_id, segments.c.id == segment_id
            )
        ).first()

    def get_filter(self, segment_id: int) -> Any | None:
        row = self._row(segment_id)
        return None if row is None else row.filter

    def audience(self, segment_id: int) -> str | None:
        row = self._row(segment_id)
        return None if row is None else row.audience

    def is_active(self, segment_id: int) -> bool:
        active = self._conn.execute(
            sa.select(segments.c.active).where(
                segments.c.project_id == self._project_id, segments.c.id == segment_id
            )
        ).scalar()
        return bool(active)

    def may_read(self, segment_id: int) -> bool:
        if self._only_created_by is None:
            return True
        row = self._row(segment_id)
        return row is None or row.created_by == self._only_created_by

    def manual_kinds(self, segment_id: int) -> frozenset[str]:
        """One statement, an EXISTS per kind: a probe of the index, however many leads."""
        c = manual_members.c

        def some(kind: str) -> sa.ColumnElement[bool]:
            return sa.exists().where(
                c.project_id == self._project_id, c.segment_id == segment_id, c.kind == kind
            )

        found = self._conn.execute(sa.select(*(some(kind) for kind in MANUAL_KINDS))).one()
        return frozenset(kind for kind, has in zip(MANUAL_KINDS, found, strict=True) if has)

    def has_list(self, list_id: int) -> bool:
        row = self._conn.execute(
            sa.select(lists.c.id).where(
                lists.c.project_id == self._project_id, lists.c.id == list_id
            )
        ).first()
        return row is not None


def load_lead(
    conn: sa.Connection, project_id: int, lead_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The lead (columns, `account`, `list_ids`) and its events, as `evaluate` takes them."""
    row = conn.execute(
        sa.select(leads).where(leads.c.project_id == project_id, leads.c.id == lead_id)
    ).first()
    if row is None:
        raise NotFound(f"no lead {lead_id}")
    lead: dict[str, Any] = dict(row._mapping)
    lead["account"] = _account(conn, project_id, lead["account_id"])
    lead["list_ids"] = frozenset(
        conn.execute(
            sa.select(list_members.c.list_id).where(
                list_members.c.project_id == project_id, list_members.c.lead_id == lead_id
            )
        ).scalars()
    )
    lead["manual"] = frozenset(
        (row.segment_id, row.kind)
        for row in conn.execute(
            sa.select(manual_members.c.segment_id, manual_members.c.kind).where(
                manual_members.c.project_id == project_id, manual_members.c.lead_id == lead_id
            )
        )
    )
    lead["segment_entered"] = _entered(conn, project_id, [lead_id]).get(lead_id, {})
    rows = conn.execute(
        sa.select(events.c.type, events.c.occurred_at, events.c.metadata).where(
            events.c.project_id == project_id, events.c.lead_id == lead_id
        )
    )
    return lead, [dict(r._mapping) for r in rows]


LeadWithEvents = tuple[dict[str, Any], list[dict[str, Any]]]


def load_leads(
    conn: sa.Connection,
    project_id: int,
    lead_ids: Collection[int],
    event_types: Collection[str] | None = None,
) -> dict[int, LeadWithEvents]:
    """Several leads as `load_lead` gives them, in five queries whatever their number (events
    limited to `event_types` when given: all a filter can look at)."""
    ids = sorted(set(lead_ids))
    found: dict[int, LeadWithEvents] = {}
    rows = conn.execute(
        sa.select(leads).where(leads.c.project_id == project_id, leads.c.id.in_(ids))
    )
    for row in rows:
        found[row.id] = (
            {**row._mapping, "account": None, "list_ids": frozenset(), "manual": frozenset()},
            [],
        )
    account_ids = {lead["account_id"] for lead, _ in found.values() if lead["account_id"]}
    account_rows = conn.execute(
        sa.select(accounts).where(
            accounts.c.project_id == project_id, accounts.c.id.in_(sorted(account_ids))
        )
    )
    by_id = {row.id: dict(row._mapping) for row in account_rows}
    memberships: dict[int, set[int]] = {}
    for lead_id, list_id in conn.execute(
        sa.select(list_members.c.lead_id, list_members.c.list_id).where(
            list_members.c.project_id == project_id, list_members.c.lead_id.in_(ids)
        )
    ):
        memberships.setdefault(lead_id, set()).add(list_id)
    manual: dict[int, set[tuple[int, str]]] = {}
    for lead_id, segment_id, kind in conn.execute(
        sa.select(
            manual_members.c.lead_id, manual_members.c.segment_id, manual_members.c.kind
        ).where(manual_members.c.project_id == project_id, manual_members.c.lead_id.in_(ids))
    ):
        manual.setdefault(lead_id, set()).add((segment_id, kind))
    entered = _entered(conn, project_id, ids)
    for lead_id, (lead, _) in found.items():
        lead["account"] = by_id.get(lead["account_id"])
        lead["list_ids"] = frozenset(memberships.get(lead_id, ()))
        lead["manual"] = frozenset(manual.get(lead_id, ()))
        lead["segment_entered"] = entered.get(lead_id, {})
    query = sa.select(
        events.c.lead_id, events.c.type, events.c.occurred_at, events.c.metadata
    ).where(events.c.project_id == project_id, events.c.lead_id.in_(ids))
    if event_types is not None:
        query = query.where(events.c.type.in_(sorted(event_types)))
    for row in conn.execute(query):
        if row.lead_id in found:
            event = {"type": row.type, "occurred_at": row.occurred_at, "metadata": row.metadata}
            found[row.lead_id][1].append(event)
    return found


def _entered(
    conn: sa.Connection, project_id: int, lead_ids: list[int]
) -> dict[int, dict[int, datetime]]:
    """When each lead's current membership of each segment began (time in segment)."""
    c = segment_members.c
    found: dict[int, dict[int, datetime]] = {}
    query = sa.select(c.lead_id, c.segment_id, c.entered_at).where(
        c.project_id == project_id, c.lead_id.in_(lead_ids)
    )
    for lead_id, segment_id, entered_at in conn.execute(query):
        found.setdefault(lead_id, {})[segment_id] = entered_at
    return found


def _account(conn: sa.Connection, project_id: int, account_id: int | None) -> dict[str, Any] | None:
    if account_id is None:
        return None
    row = conn.execute(
        sa.select(accounts).where(accounts.c.project_id == project_id, accounts.c.id == account_id)
    ).first()
    return None if row is None else dict(row._mapping)


def load_accounts(
    conn: sa.Connection, project_id: int, account_ids: Collection[int]
) -> dict[int, dict[str, Any]]:
    """Accounts as `evaluate_account` takes them: columns, `metadata`, and under "leads" each
    of its leads with its events (as `load_leads` gives them, each lead's `account` the same
    account). Seven queries however many accounts."""
    ids = sorted(set(account_ids))
    rows = conn.execute(
        sa.select(accounts).where(accounts.c.project_id == project_id, accounts.c.id.in_(ids))
    )
    found = {row.id: {**row._mapping, "leads": []} for row in rows}
    lead_ids = conn.execute(
        sa.select(leads.c.id).where(
            leads.c.project_id == project_id, leads.c.account_id.in_(sorted(found))
        )
    ).scalars()
    for lead, lead_events in load_leads(conn, project_id, list(lead_ids)).values():
        account = found[lead["account_id"]]
        lead["account"] = account
        account["leads"].append((lead, lead_events))
    return found


class _AccountLeads(Sequence[tuple[dict[str, Any], list[dict[str, Any]]]]):
    """An account's leads with their events, read on first use: only a filter reaching an
    account segment's `leads` node reads them, and an account may have many."""

    def __init__(self, conn: sa.Connection, project_id: int, account_id: int) -> None:
        self._conn, self._project_id, self._account_id = conn, project_id, account_id
        self._found: list[tuple[dict[str, Any], list[dict[str, Any]]]] | None = None

    def _all(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        if self._found is None:
            loaded = load_accounts(self._conn, self._project_id, [self._account_id])
            self._found = loaded[self._account_id]["leads"] if loaded else []
        return self._found

    @overload
    def __getitem__(self, at: int) -> tuple[dict[str, Any], list[dict[str, Any]]]: ...

    @overload
    def __getitem__(self, at: slice) -> Sequence[tuple[dict[str, Any], list[dict[str, Any]]]]: ...

    def __getitem__(self, at: int | slice) -> Any:
        return self._all()[at]

    def __len__(self) -> int:
        return len(self._all())


def with_account_leads(conn: sa.Connection, project_id: int, lead: dict[str, Any]) -> None:
    """Give a loaded lead's account its leads (read when first used), for `in_account_segment`
    (whose account segment may count them) in Python."""
    account = lead.get("account")
    if account is not None:
        lead["account"] = {**account, "leads": _AccountLeads(conn, project_id, account["id"])}


class ImportedSegments(StoredSegments):
    """A project's segments as an import checks the filters that name them: every one is read,
    and every one counts as active. Time in segment asks for an active segment when a filter is
    saved, but the segment may be deactivated after, and an export keeps both as they were."""

    def is_active(self, segment_id: int) -> bool:
        return True
