"""Bulk actions: one action (set a status, add to a list, delete...) over a selection of leads,
chosen by id or as "all N matching" a filter, a segment's or a list's members.

Asking for one records it (`bulk_actions`: what, over which leads, by whom) and queues its
first batch in the outbox. The worker does one batch of leads at a time, in id order, in one
transaction with the batch's progress and the next batch's work item: a crash or a restart
loses nothing and does nothing twice, and other work interleaves with a long action. Each
batch's writes go through the same write rules as any other (membership maintenance, webhooks,
the index's change feed follow).

A filter selection is read again at each batch, among the leads that existed when the action
was asked for (ids up to `max_lead_id`): a lead that stopped matching meanwhile is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from segmint.auth import Principal
from segmint.engine import answering, filtering, lists, manual, membership, outbox, owners, scoring
from segmint.engine import segments as segments_engine
from segmint.engine.lead_writes import (
    MERGE_COLUMNS,
    account_left,
    lock_for_merge,
    prepare_lead,
    record_accounts_left,
    record_accounts_of_deleted,
    update_statement,
    update_values,
    written_columns,
)
from segmint.errors import Conflict, Forbidden, InvalidInput, NotFound, SegmintError
from segmint.folding import fold
from segmint.index import Audience
from segmint.model import Role
from segmint.projects import Project
from segmint.store.rows import BulkActionRow
from segmint.store.tables import bulk_actions, leads

BATCH: Final = 1000  # leads a batch writes in one transaction
MAX_LEAD_IDS: Final = lists.MAX_LEAD_IDS  # ids a selection may name outright


class State:
    QUEUED: Final = "queued"
    RUNNING: Final = "running"
    DONE: Final = "done"
    FAILED: Final = "failed"
    CANCELLED: Final = "cancelled"
    UNFINISHED: Final = (QUEUED, RUNNING)


# -- the actions ------------------------------------------------------------------------------

Params = dict[str, Any]
# Writes one batch of leads (ids known to be the project's, in the caller's transaction) on
# behalf of its author (an email, for the history a change records); returns how many changed.
Apply = Callable[[sa.Connection, Project, Params, list[int], datetime, str], int]
Check = Callable[[sa.Connection, Project, Params], Params]


@dataclass(frozen=True)
class Action:
    key: str
    label: str
    # Checks what the action was given and returns it as stored; run when it is asked for and
    # again before each batch (a list may have been deleted since), before anything is written.
    check: Check
    apply: Apply
    admin_only: bool = False  # deleting leads is for owners and admins, as one at a time is
    # Whether the asker may: checked once, when asked (a batch acts on that permission).
    authorize: Callable[[sa.Connection, Project, Principal, Params], None] | None = None


def _check_reference(kind: str, get: Callable[[sa.Connection, Project, int], object]) -> Check:
    """Params `{"<kind>_id": id}` naming one of the project's lists or segments."""
    key = f"{kind}_id"

    def check(conn: sa.Connection, project: Project, params: Params) -> Params:
        found = params.get(key)
        if not isinstance(found, int) or isinstance(found, bool):
            raise InvalidInput(f"expected the id of a {kind}", f"params.{key}")
        try:
            get(conn, project, found)
        except NotFound:
            raise InvalidInput(f"no {kind} {found} in this project", f"params.{key}") from None
        return {key: found}

    return check


_check_list = _check_reference("list", lists.get_list)
_check_segment = _check_reference("segment", segments_engine.get_segment)


def _check_field(name: str) -> Check:
    """Params `{name: value}`, the value checked as a lead's field is when written."""

    def check(conn: sa.Connection, project: Project, params: Params) -> Params:
        if name not in params:
            raise InvalidInput(f"give the {name} to set", f"params.{name}")
        try:
            lead = prepare_lead(0, {name: params[name]}, project, keep_blank=True)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, f"params.{exc.path or name}") from None
        value = lead.columns.get(name)
        if name == owners.OWNER:
            owners.check(conn, project, value, f"params.{name}")
        return {name: value}

    return check


def _check_tags(_conn: sa.Connection, project: Project, params: Params) -> Params:
    tags = _check_field("tags")(_conn, project, params)["tags"]
    if not tags:
        raise InvalidInput("give at least one tag", "params.tags")
    return {"tags": tags}


def _check_nothing(_conn: sa.Connection, _project: Project, params: Params) -> Params:
    if params:
        raise InvalidInput(f"this action takes no params, got {sorted(params)}", "params")
    return {}


def _add_to_list(
    conn: sa.Connection, project: Project, params: Params, ids: list[int], now: datetime, _by: str
) -> int:
    return lists.add_known_leads(conn, project, params["list_id"], ids, now)


def _remove_from_list(
    conn: sa.Connection, project: Project, params: Params, ids: list[int], now: datetime, _by: str
) -> int:
    return lists.remove_known_leads(conn, project, params["list_id"], ids, now)


def _set_field(name: str) -> Apply:
    def apply(
        conn: sa.Connection,
        project: Project,
        params: Params,
        ids: list[int],
        now: datetime,
        _by: str,
    ) -> int:
        value = params[name]
        return _rewrite(
            conn, project, ids, now, lambda row: None if row[name] == value else {name: value}
        )

    return apply


def _add_tags(
    conn: sa.Connection, project: Project, params: Params, ids: list[int], now: datetime, _by: str
) -> int:
    def record(row: Any) -> dict[str, Any] | None:
        held = {fold(tag) for tag in row["tags"]}
        new = [tag for tag in params["tags"] if fold(tag) not in held]
        return {"tags": [*row["tags"], *new]} if new else None

    return _rewrite(conn, project, ids, now, record)


def _remove_tags(
    conn: sa.Connection, project: Project, params: Params, ids: list[int], now: datetime, _by: str
) -> int:
    gone = {fold(tag) for tag in params["tags"]}

    def record(row: Any) -> dict[str, Any] | None:
        kept = [tag for tag in row["tags"] if fold(tag) not in gone]
        return {"tags": kept} if len(kept) != len(row["tags"]) else None

    return _rewrite(conn, project, ids, now, record)


def _delete(
    conn: sa.Connection, project: Project, _params: Params, ids: list[int], now: datetime, _by: str
) -> int:
    membership.record_deletion(conn, project, ids, now)
    record_accounts_of_deleted(conn, project, ids, now)
    result = conn.execute(
        leads.delete().where(leads.c.project_id == project.id, leads.c.id.in_(ids))
    )
    return int(result.rowcount)


def _may_edit_segment(
    conn: sa.Connection, project: Project, principal: Principal, params: Params
) -> None:
    row = segments_engine.editable_segment(conn, project, principal, params["segment_id"])
    if row.audience != "leads":
        raise InvalidInput(
            f"segment {row.id} is an account segment: leads are added to lead segments only",
            "params.segment_id",
        )


def _by_hand(kind: str) -> Apply:
    """Include (exclude) the leads in a segment by hand, as its page does one at a time."""

    def apply(
        conn: sa.Connection,
        project: Project,
        params: Params,
        ids: list[int],
        now: datetime,
        by: str,
    ) -> int:
        return manual.add_known(conn, project, params["segment_id"], kind, ids, by, now)

    return apply


ACTIONS: Final[dict[str, Action]] = {
    action.key: action
    for action in (
        Action(
            "include_in_segment",
            "Add to segment",
            _check_segment,
            _by_hand(manual.INCLUDE),
            authorize=_may_edit_segment,
        ),
        Action(
            "exclude_from_segment",
            "Exclude from segment",
            _check_segment,
            _by_hand(manual.EXCLUDE),
            authorize=_may_edit_segment,
        ),
        Action("add_to_list", "Add to list", _check_list, _add_to_list),
        Action("remove_from_list", "Remove from list", _check_list, _remove_from_list),
        Action("set_status", "Set status", _check_field("status"), _set_field("status")),
        Action("set_owner", "Set owner", _check_field("owner"), _set_field("owner")),
        Action("add_tags", "Add tags", _check_tags, _add_tags),
        Action("remove_tags", "Remove tags", _check_tags, _remove_tags),
        Action("delete", "Delete leads", _check_nothing, _delete, admin_only=True),
    )
}


def _rewrite(
    conn: sa.Connection,
    project: Project,
    ids: list[int],
    now: datetime,
    record_of: Callable[[Any], dict[str, Any] | None],
) -> int:
    """Write to each lead the record `record_of` gives for it (None: leave it as it is), by the
    rules of any lead update, in one statement per shape of record."""
    query = sa.select(*MERGE_COLUMNS, leads.c.status, leads.c.owner, leads.c.tags).where(
        leads.c.project_id == project.id, leads.c.id.in_(ids)
    )
    bands = scoring.levels(conn, project)
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    left: list[int | None] = []
    for row in conn.execute(lock_for_merge(conn, query)):
        record = record_of(row._mapping)
        if record is not None:
            lead = prepare_lead(0, record, project, keep_blank=True)
            values = update_values(lead, row, project.id, now, bands)
            shapes.setdefault(frozenset(values), []).append(values)
            left.append(account_left(row, values))
    for keys, rows in shapes.items():
        conn.execute(update_statement(keys), rows)
        changed = [values["b_id"] for values in rows]
        outbox.leads_written(conn, project.id, changed, now, written_columns(keys))
    record_accounts_left(conn, project.id, left, now)
    return sum(len(rows) for rows in shapes.values())


# -- which leads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The leads an action is over: named by id, or every lead matching a filter, in a
    segment or in a list, each narrowed by a search."""

    lead_ids: tuple[int, ...] | None = None
    filter: dict[str, Any] | None = None
    segment_id: int | None = None
    list_id: int | None = None
    q: str | None = None

    def stored(self) -> dict[str, Any]:
        if self.lead_ids is not None:
            return {"lead_ids": list(self.lead_ids)}
        kept: dict[str, Any] = {
            "filter": self.filter,
            "segment_id": self.segment_id,
            "list_id": self.list_id,
            "q": self.q,
        }
        return {key: value for key, value in kept.items() if value is not None}

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Selection:
        ids = stored.get("lead_ids")
        return cls(
            lead_ids=None if ids is None else tuple(ids),
            filter=stored.get("filter"),
            segment_id=stored.get("segment_id"),
            list_id=stored.get("list_id"),
            q=stored.get("q"),
        )


def check_selection(
    conn: sa.Connection, project: Project, data: Any, principal: Principal
) -> Selection:
    """A selection from user input: lead ids alone, or any of a filter, a segment or a list
    (not both) and a search; every reference one the caller may read."""
    if not isinstance(data, Mapping):
        raise InvalidInput("expected an object", "selection")
    unknown = sorted(set(data) - {"lead_ids", "filter", "segment_id", "list_id", "q"})
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0]!r}", f"selection.{unknown[0]}")
    if "lead_ids" in data:
        if len(data) > 1:
            raise InvalidInput("lead_ids selects alone: no filter with it", "selection")
        return Selection(lead_ids=tuple(_check_ids(conn, project, data["lead_ids"])))
    selection = Selection(
        filter=data.get("filter"),
        segment_id=_optional_id(data, "segment_id"),
        list_id=_optional_id(data, "list_id"),
        q=_optional_text(data, "q"),
    )
    if selection.segment_id is not None and selection.list_id is not None:
        raise InvalidInput("select a segment's or a list's members, not both", "selection")
    if selection.filter is not None:
        try:
            tree = filtering.validate(conn, project, selection.filter, reader=principal)
        except InvalidInput as exc:
            raise _within("selection", exc) from None
        selection = Selection(
            filter=filtering.to_json(tree),
            segment_id=selection.segment_id,
            list_id=selection.list_id,
            q=selection.q,
        )
    if selection.segment_id is not None:
        _visible(lambda: segments_engine.visible_segment(conn, project, principal, _id(selection)))
    if selection.list_id is not None:
        _visible(lambda: lists.get_list(conn, project, int(selection.list_id or 0)))
    return selection


def _within(outer: str, exc: InvalidInput) -> InvalidInput:
    """The same error, its paths from the request's top: `filter.x` -> `selection.filter.x`."""
    problems = [_within(outer, problem) for problem in exc.problems]
    return InvalidInput(exc.message, f"{outer}.{exc.path}" if exc.path else outer, problems)


def _id(selection: Selection) -> int:
    return int(selection.segment_id or 0)


def _visible(get: Callable[[], object]) -> None:
    """A referenced segment or list that is not there is bad input here, not a missing page."""
    try:
        get()
    except NotFound as exc:
        raise InvalidInput(f"{exc.message} in this project", "selection") from None


def _check_ids(conn: sa.Connection, project: Project, data: Any) -> list[int]:
    if not isinstance(data, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in data
    ):
        raise InvalidInput("expected a list of lead ids", "selection.lead_ids")
    try:
        return lists.check_lead_ids(conn, project, data)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, "selection.lead_ids") from None


def _optional_id(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidInput("expected an id", f"selection.{key}")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput("expected text", f"selection.{key}")
    return value or None


def _audience(conn: sa.Connection, project: Project, selection: Selection) -> Audience:
    """The leads a filter selection names (not an id selection), as the engine answers it."""
    if selection.segment_id is not None:
        row = segments_engine.get_segment(conn, project, selection.segment_id)
        base = answering.segment_audience(conn, project, row, selection.q)
    elif selection.list_id is not None:
        base = answering.list_audience(project, selection.list_id, selection.q)
    else:
        search = filtering.search_tree(project, selection.q)
        base = Audience((search,) if search is not None else ())
    if selection.filter is None:
        return base
    return Audience((filtering.load(project, selection.filter), *base.filters), base.members)


def _next_ids(
    conn: sa.Connection, project: Project, job: BulkActionRow, now: datetime
) -> tuple[list[int], bool]:
    """The next batch of the selection after `last_lead_id`, and whether more follow."""
    selection = Selection.of(job.selection)
    if selection.lead_ids is not None:
        after = [i for i in selection.lead_ids if i > job.last_lead_id]
        batch = after[:BATCH]
        held = conn.execute(
            sa.select(leads.c.id)
            .where(leads.c.project_id == project.id, leads.c.id.in_(batch))
            .order_by(leads.c.id)
        ).scalars()
        return list(held), len(after) > BATCH
    audience = _audience(conn, project, selection)
    indexed = answering.matching_all(conn, project, audience, now)
    if indexed is not None:
        ids = indexed.value
        ids = ids[(ids > job.last_lead_id) & (ids <= job.max_lead_id)][: BATCH + 1]
        return [int(i) for i in ids[:BATCH]], len(ids) > BATCH
    where = answering.sql_condition(conn, project, audience, now)
    query = (
        sa.select(leads.c.id)
        .where(
            leads.c.project_id == project.id,
            leads.c.id > job.last_lead_id,
            leads.c.id <= job.max_lead_id,
            where if where is not None else sa.true(),
        )
        .order_by(leads.c.id)
        .limit(BATCH + 1)
    )
    ids_found = list(conn.execute(query).scalars())
    return ids_found[:BATCH], len(ids_found) > BATCH


def _size(conn: sa.Connection, project: Project, selection: Selection, now: datetime) -> int:
    if selection.lead_ids is not None:
        return len(selection.lead_ids)
    return answering.count(conn, project, _audience(conn, project, selection), now)[0]


# -- asking, following, cancelling ------------------------------------------------------------


def start(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    data: Mapping[str, Any],
    now: datetime,
) -> BulkActionRow:
    """Record an action over a selection and queue its first batch.

    `data`: `action`, `params`, `selection` and, to delete, `confirm`: the number of leads
    selected, typed by the user, so a delete never runs over more leads than they saw."""
    action = _action(data.get("action"), principal)
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        raise InvalidInput("expected an object", "params")
    params = action.check(conn, project, dict(params))
    if action.authorize is not None:
        action.authorize(conn, project, principal, params)
    selection = check_selection(conn, project, data.get("selection"), principal)
    total = _size(conn, project, selection, now)
    if total == 0:
        raise InvalidInput("no lead matches the selection", "selection")
    if action.admin_only and data.get("confirm") != total:
        raise InvalidInput(f"type the number of leads selected ({total}) to confirm", "confirm")
    max_lead_id = conn.execute(
        sa.select(sa.func.max(leads.c.id)).where(leads.c.project_id == project.id)
    ).scalar()
    new_id = conn.execute(
        bulk_actions.insert()
        .values(
            project_id=project.id,
            action=action.key,
            params=params,
            selection=selection.stored(),
            state=State.QUEUED,
            total=total,
            max_lead_id=int(max_lead_id or 0),
            created_by=principal.user_id,
            created_by_email=principal.email,
            created_at=now,
        )
        .returning(bulk_actions.c.id)
    ).scalar_one()
    outbox.enqueue(conn, project.id, outbox.Kind.BULK, {"bulk_action_id": new_id}, now)
    return get(conn, project, new_id)


def _action(key: Any, principal: Principal) -> Action:
    action = ACTIONS.get(key) if isinstance(key, str) else None
    if action is None:
        choices = ", ".join(ACTIONS)
        raise InvalidInput(f"unknown action {key!r}: one of {choices}", "action")
    if action.admin_only and principal.role not in (Role.OWNER, Role.ADMIN):
        raise Forbidden(f"{action.label.lower()} needs the owner or admin role")
    return action


def get(conn: sa.Connection, project: Project, bulk_action_id: int) -> BulkActionRow:
    row = conn.execute(
        sa.select(bulk_actions).where(
            bulk_actions.c.project_id == project.id, bulk_actions.c.id == bulk_action_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no bulk action {bulk_action_id}")
    return BulkActionRow.of(row)


def recent(
    conn: sa.Connection, project: Project, before: int | None, limit: int
) -> list[BulkActionRow]:
    """The project's bulk actions, newest first, `limit` of them older than id `before`."""
    query = sa.select(bulk_actions).where(bulk_actions.c.project_id == project.id)
    if before is not None:
        query = query.where(bulk_actions.c.id < before)
    rows = conn.execute(query.order_by(bulk_actions.c.id.desc()).limit(limit))
    return [BulkActionRow.of(row) for row in rows]


def cancel(
    conn: sa.Connection, project: Project, principal: Principal, bulk_action_id: int, now: datetime
) -> None:
    """Stop an action before its next batch (batches already done stay done): for whoever
    asked for it, owners and admins."""
    job = get(conn, project, bulk_action_id)
    if principal.role == Role.MEMBER and job.created_by != principal.user_id:
        raise Forbidden("only who started a bulk action, owners and admins may cancel it")
    if job.state not in State.UNFINISHED:
        raise Conflict(f"bulk action {bulk_action_id} has already {job.state}", "state")
    conn.execute(
        bulk_actions.update()
        .where(bulk_actions.c.project_id == project.id, bulk_actions.c.id == bulk_action_id)
        .values(state=State.CANCELLED, finished_at=now)
    )


# -- the worker's side -------------------------------------------------------------------------


def run_batch(conn: sa.Connection, project: Project, bulk_action_id: int, now: datetime) -> None:
    """Do the next batch of an action, record how far it got and queue the batch after it, in
    the caller's transaction. An action that can no longer be done (its list was deleted)
    fails with the reason, before this batch writes anything."""
    job = _locked(conn, project, bulk_action_id)
    if job is None or job.state not in State.UNFINISHED:
        return  # cancelled, or the project is gone
    action = ACTIONS[job.action]
    try:
        params = action.check(conn, project, job.params)
        ids, more = _next_ids(conn, project, job, now)
    except SegmintError as exc:
        _finish(conn, job, State.FAILED, now, exc.message)
        return
    author = f"{job.created_by_email or 'a former user'} (bulk action {job.id})"
    changed = action.apply(conn, project, params, ids, now, author) if ids else 0
    conn.execute(
        bulk_actions.update()
        .where(bulk_actions.c.project_id == project.id, bulk_actions.c.id == job.id)
        .values(
            state=State.RUNNING if more else State.DONE,
            processed=bulk_actions.c.processed + len(ids),
            changed=bulk_actions.c.changed + changed,
            last_lead_id=ids[-1] if ids else job.last_lead_id,
            started_at=job.started_at or now,
            finished_at=None if more else now,
        )
    )
    if more:
        outbox.enqueue(conn, project.id, outbox.Kind.BULK, {"bulk_action_id": job.id}, now)


def _locked(conn: sa.Connection, project: Project, bulk_action_id: int) -> BulkActionRow | None:
    """The action's row, locked: a cancel waits for the batch under way, then holds."""
    row = conn.execute(
        sa.select(bulk_actions)
        .where(bulk_actions.c.project_id == project.id, bulk_actions.c.id == bulk_action_id)
        .with_for_update()
    ).first()
    return None if row is None else BulkActionRow.of(row)


def _finish(
    conn: sa.Connection, job: BulkActionRow, state: str, now: datetime, error: str | None
) -> None:
    conn.execute(
        bulk_actions.update()
        .where(bulk_actions.c.project_id == job.project_id, bulk_actions.c.id == job.id)
        .values(
            state=state,
            error=None if error is None else error[:1000],
            started_at=job.started_at or now,
            finished_at=now,
        )
    )


def progress(job: BulkActionRow) -> float:
    """How far along, 0 to 1 (a selection may shrink as it goes: done is 1)."""
    if job.state not in State.UNFINISHED:
        return 1.0
    return min(job.processed / job.total, 0.99) if job.total else 0.0
