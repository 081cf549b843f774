"""One memory budget for every project a process indexes: a project's index is built, and kept
after each answer, only within what the others leave."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from segmint.index import Indexes, Settings
from segmint.projects import Project, create_project
from tests.filters.harness import LeadSpec, insert_leads


def _leads(count: int) -> list[LeadSpec]:
    return [LeadSpec({"email": f"l{i}@x.test", "company": f"Company {i}"}) for i in range(count)]


def test_the_budget_is_shared_by_every_project_indexed(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        other = create_project(conn, project.organization_id, "other")
        insert_leads(conn, project.id, _leads(300))
        insert_leads(conn, other.id, _leads(300))
    probe = Indexes(db, Settings(memory=1 << 30, background=False))
    first, second = probe.ready(project.id), probe.ready(other.id)
    assert first is not None and second is not None
    sizes = first.nbytes(), second.nbytes()

    # Room for either alone, not for both: the second project's build is refused.
    indexes = Indexes(db, Settings(memory=sum(sizes) - 1, background=False))
    assert indexes.ready(project.id) is not None
    assert indexes.ready(other.id) is None
    states = {p: s["state"] for p, s in indexes.status()["projects"].items()}
    assert states == {str(project.id): "ready", str(other.id): "over_budget"}

    # Room for both: each answer of one counts the other as last measured.
    both = Indexes(db, Settings(memory=2 * sum(sizes), background=False))
    kept = both.ready(project.id), both.ready(other.id)
    assert kept[0] is not None and kept[1] is not None
    both.check_budget(project.id, kept[0])
    assert both.ready(project.id) is kept[0]
    both.settings = Settings(memory=sum(sizes) - 1, background=False)
    both.check_budget(other.id, kept[1])
    assert both.ready(other.id) is None
    assert both.status()["projects"][str(other.id)]["state"] == "over_budget"
