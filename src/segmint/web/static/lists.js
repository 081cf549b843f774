// Static lists: the index, and one list's members (add, remove, refresh, export).
"use strict";

function deleteList(list) {
  return deleteUsedObject({
    noun: "list",
    name: list.name,
    path: `/lists/${list.id}`,
    lines: ["This action cannot be undone.", "Leads themselves will NOT be deleted (only the list)."],
  });
}

async function listsIndex() {
  const rows = document.getElementById("list-rows");
  async function load() {
    try {
      const result = await api("/lists");
      // data-label: on narrow screens each row is a card of labelled lines (table.stack).
      clear(rows, result.items.length ? result.items.map((l) => el("tr", {},
        el("td", { class: "title", "data-label": "" },
          el("a", { href: projectUrl(`/lists/${l.id}`), class: "one-line", title: l.name }, l.name),
          l.description ? el("div", { class: "muted two-lines", title: l.description }, l.description) : null),
        el("td", { class: "num", "data-label": "Members" }, fmtNumber(l.member_count)),
        el("td", { "data-label": "From segment" }, l.source_segment_id ? el("a", { href: projectUrl(`/segments/${l.source_segment_id}`) }, `Segment ${l.source_segment_id}`) : "–"),
        el("td", { "data-label": "Updated" }, fmtDate(l.updated_at, false)),
        el("td", { "data-label": "" }, el("button", { type: "button", class: "danger", "aria-label": `Delete ${l.name}`, onclick: () => removeList(l) }, "Delete")),
      )) : el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No lists yet.")));
    } catch (error) { clear(rows, el("tr", {}, el("td", { colspan: 5, class: "error" }, error.message))); }
  }
  async function removeList(list) {
    if (await deleteList(list)) { toast("List deleted."); load(); }
  }
  document.getElementById("new-list").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = document.getElementById("list-name");
    try {
      const created = await api("/lists", { method: "POST", body: { name: name.value.trim() } });
      location.assign(projectUrl(`/lists/${created.id}`));
    } catch (error) { toast(error.message, "error"); }
  });
  load();
}

async function listDetail() {
  const id = BOOT.list_id;
  let list;
  const actions = document.getElementById("list-actions");
  async function loadHead() {
    try { list = await api(`/lists/${id}`); } catch (error) {
      clear(document.getElementById("list-head"), el("p", { class: "error" }, error.message));
      return;
    }
    document.title = `${list.name} · Segmint`;
    clear(document.getElementById("list-head"), el("h1", {}, list.name),
      list.description ? el("p", { class: "muted" }, list.description) : null,
      el("dl", { class: "stats" }, el("div", {}, el("dt", {}, "Members"), el("dd", {}, fmtNumber(list.member_count))),
        el("div", {}, el("dt", {}, "Updated"), el("dd", {}, fmtDate(list.updated_at)))));
    clear(actions,
      el("a", { class: "button", href: projectUrl("/lists") }, "Back to Lists"),
      el("button", { type: "button", disabled: list.member_count === 0, onclick: exportList },
        el("span", { class: "wide-only" }, "Export CSV"), el("span", { class: "narrow-only" }, "Export")),
      el("a", { class: "button", href: projectUrl(`/overlap?lists=${id}`) }, "Compare with…"),
      list.filter ? el("button", { type: "button", onclick: refresh, title: "Re-apply the stored filter" }, "Refresh") : null);
  }
  async function exportList() {
    try {
      const rows = await exportCsv(`/lists/${id}/export.csv`, "list_export.csv");
      if (rows !== null) toast(`Exported ${fmtNumber(rows)} members to CSV.`);
    } catch (error) { toast(error.message || "Failed to export list members.", "error"); }
  }
  async function refresh() {
    try {
      const result = await api(`/lists/${id}/refresh`, { method: "POST" });
      toast(`List refreshed: ${fmtNumber(result.member_count)} members.`);
      loadHead(); members.render();
    } catch (error) { toast(error.message, "error"); }
  }
  async function change(method, leadIds, message) {
    try {
      await api(`/lists/${id}/members`, { method, body: { lead_ids: leadIds } });
      toast(message);
      loadHead(); members.render();
    } catch (error) { toast(error.message, "error"); }
  }
  let showSelection = () => {};
  const members = pagedTable({
    mount: document.getElementById("list-members"),
    name: "list-members",
    selectable: true,
    onSelect: (selection) => showSelection(selection),
    columns: [
      { label: "Name", render: leadName, clip: true, always: true },
      { label: "Email", key: "email", clip: "long" },
      { label: "Company", key: "company", clip: true },
      { label: "Job Title", key: "job_title", clip: true },
      { label: "Status", key: "status", clip: "short" },
      { label: "Source", key: "source", clip: "short" },
      { label: "Remove", always: true, render: (l) => el("button", { type: "button", class: "link", "aria-label": `Remove ${leadName(l)}`,
        onclick: () => change("DELETE", [l.id], `${leadName(l)} removed from the list.`) }, "Remove") },
    ],
    rowLink: (lead) => projectUrl(`/leads/${lead.id}`),
    empty: "The list is empty: add leads above.",
    load: ({ page, perPage, q }) => {
      const params = new URLSearchParams({ page, per_page: perPage });
      if (q) params.set("q", q);
      return api(`/lists/${id}/members?${params}`);
    },
  });
  showSelection = bulkBar({ table: members, mount: document.getElementById("list-bulk"),
    everyone: () => ({ list_id: id }), exportFilter: () => ({ filter: { in_list: id } }),
    onDone: () => { loadHead(); members.render(); } });
  const results = document.getElementById("add-results");
  document.getElementById("add-search").addEventListener("input", debounce(async (e) => {
    const q = e.target.value.trim();
    if (!q) { clear(results); return; }
    const found = await api(`/leads?${new URLSearchParams({ q, per_page: 5 })}`);
    clear(results, found.items.map((l) => el("li", {}, `${leadName(l)} · ${l.email || ""} `,
      el("button", { type: "button", onclick: () => change("POST", [l.id], `${leadName(l)} added to the list.`) }, "Add"))));
  }, 300));
  await loadHead();
  members.render();
}

if (document.body.dataset.page === "lists") listsIndex();
if (document.body.dataset.page === "list") listDetail();
