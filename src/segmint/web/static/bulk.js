// Bulk actions over a table's selection (Leads, a segment's or a list's members): the rows
// ticked, or "all N matching"; the action runs in the background and its progress shows here.
"use strict";

const BULK_ACTIONS = [
  { key: "include_in_segment", label: "Add to segment…", verb: "Adding to the segment" },
  { key: "exclude_from_segment", label: "Exclude from segment…", verb: "Excluding from the segment" },
  { key: "add_to_list", label: "Add to list…", verb: "Adding to the list" },
  { key: "remove_from_list", label: "Remove from list…", verb: "Removing from the list" },
  { key: "set_status", label: "Set status…", verb: "Setting the status" },
  { key: "set_owner", label: "Set owner…", verb: "Setting the owner" },
  { key: "add_tags", label: "Add tags…", verb: "Adding tags" },
  { key: "remove_tags", label: "Remove tags…", verb: "Removing tags" },
  { key: "export", label: "Export CSV…" },
  { key: "delete", label: "Delete…", verb: "Deleting" },
];
const BULK_POLL_MS = 500;

// `table`: a pagedTable made with `selectable`; `mount`: where the bar goes; `everyone()`: the
// selection meaning every row of the table's current search ({filter, q} or {segment_id, q}...);
// `exportFilter()`: the same as a filter for the leads export; `onDone`: after an action ends.
function bulkBar({ table, mount, everyone, exportFilter, onDone = () => table.render() }) {
  const count = el("strong", { id: "bulk-count" });
  const widen = el("button", { type: "button", class: "link", id: "bulk-select-all" });
  const choice = el("select", { id: "bulk-action", "aria-label": "Action on the selected leads" },
    el("option", { value: "" }, "Choose an action…"),
    BULK_ACTIONS.map((a) => el("option", { value: a.key }, a.label)));
  const apply = el("button", { type: "button", class: "primary", id: "bulk-apply" }, "Apply");
  const drop = el("button", { type: "button", class: "link" }, "Clear selection");
  const bar = el("div", { class: "bulk-bar", id: "bulk-bar", role: "region", "aria-label": "Selected leads", hidden: true },
    count, widen, choice, apply, drop);
  const status = el("div", { class: "bulk-progress", id: "bulk-progress", "aria-live": "polite" });
  mount.append(bar, status);

  let current = { ids: [], all: false, total: 0 };
  function show(selection) {
    current = selection;
    const size = selection.all ? selection.total : selection.ids.length;
    bar.hidden = size === 0;
    count.textContent = selection.all ? `All ${fmtNumber(size)} matching selected` : `${fmtNumber(size)} selected`;
    widen.hidden = selection.all || !selection.pageFull || selection.total <= selection.ids.length;
    widen.textContent = `Select all ${fmtNumber(selection.total)} matching`;
  }
  widen.addEventListener("click", () => table.selectAll());
  drop.addEventListener("click", () => table.clearSelection());
  apply.addEventListener("click", async () => {
    const action = BULK_ACTIONS.find((a) => a.key === choice.value);
    if (!action) { toast("Choose an action first.", "error"); choice.focus(); return; }
    const size = current.all ? current.total : current.ids.length;
    const selection = current.all ? everyone() : { lead_ids: current.ids };
    if (action.key === "export") { await exportSelection(current, exportFilter()); return; }
    const asked = await askBulk(action, size);
    if (!asked) return;
    try {
      const job = await api("/bulk-actions", { method: "POST", body: { action: action.key, selection, ...asked } });
      table.clearSelection();
      choice.value = "";
      await followBulk(job, action, status);
      onDone();
    } catch (error) { toast(error.message, "error"); }
  });
  return show;
}

// Export: the ticked rows by id, or every row of the search by its filter.
async function exportSelection(selection, filter) {
  const keys = await columnsDialog(await loadExportColumns());
  if (!keys) return;
  const params = new URLSearchParams({ columns: keys.join(",") });
  if (selection.all) {
    if (filter.filter) params.set("filter", JSON.stringify(filter.filter));
    if (filter.q) params.set("q", filter.q);
  } else params.set("ids", selection.ids.join(","));
  try {
    const rows = await downloadCsv(`/leads/export.csv?${params}`, "leads_export.csv");
    toast(`Exported ${fmtNumber(rows)} leads.`);
  } catch (error) { toast(error.message, "error"); }
}

// What the action needs (a list, a status, tags...), asked in a dialog: resolves to the
// request's {params, confirm}, or null when cancelled.
async function askBulk(action, size) {
  const leads = size === 1 ? "1 lead" : `${fmtNumber(size)} leads`;
  let control;
  let read;
  let lines = [];
  if (action.key === "include_in_segment" || action.key === "exclude_from_segment") {
    // The segments the reader may change: their own, or all of them for owners.
    const found = await api(`/segments?scope=${BOOT.role === "owner" ? "all" : "mine"}`);
    if (!found.items.length) { toast("There is no segment of yours to change yet.", "error"); return null; }
    control = el("select", { id: "bulk-value" }, found.items.map((s) => el("option", { value: s.id }, s.name)));
    lines = [action.key === "include_in_segment"
      ? `The ${leads} stay in the segment whatever its conditions say, until removed from its page.`
      : `The ${leads} stay out of the segment whatever its conditions say, until removed from its page.`];
    read = () => ({ params: { segment_id: Number(control.value) } });
  } else if (action.key === "add_to_list" || action.key === "remove_from_list") {
    const found = await api("/lists");
    if (!found.items.length) { toast("There is no list yet: create one on the Lists page.", "error"); return null; }
    control = el("select", { id: "bulk-value" }, found.items.map((l) => el("option", { value: l.id }, l.name)));
    read = () => ({ params: { list_id: Number(control.value) } });
  } else if (action.key === "set_status") {
    const settings = await api("/settings");
    control = el("select", { id: "bulk-value" }, settings.statuses.map((s) => el("option", { value: s }, s)));
    read = () => ({ params: { status: control.value } });
  } else if (action.key === "set_owner") {
    const users = await api("/assignees");
    control = el("select", { id: "bulk-value" }, el("option", { value: "" }, "No owner (unassigned)"),
      users.items.map((u) => el("option", { value: u.email }, assigneeLabel(u, users.me))));
    read = () => ({ params: { owner: control.value || null } });
  } else if (action.key === "add_tags" || action.key === "remove_tags") {
    control = el("input", { id: "bulk-value", required: true, placeholder: "Tags, separated by commas" });
    read = () => (control.value.trim() ? { params: { tags: control.value } } : null);
  } else {
    control = el("input", { id: "bulk-value", required: true, inputmode: "numeric", autocomplete: "off" });
    lines = [`This deletes ${leads} for good, with their events and memberships.`];
    read = () => (Number(control.value.replace(/[\s,.]/g, "")) === size ? { params: {}, confirm: size } : null);
  }
  const label = action.key === "delete" ? `Type ${size} to confirm` : action.label.replace("…", "");
  return valueDialog({ title: `${action.label.replace("…", "")}: ${leads}`, label, control, read, lines,
    confirmLabel: action.key === "delete" ? `Delete ${leads}` : "Apply", danger: action.key === "delete" });
}

function valueDialog({ title, label, control, read, lines, confirmLabel, danger }) {
  return new Promise((resolve) => {
    const problem = el("p", { class: "field-error", role: "alert" });
    const form = el("form", { method: "dialog", class: "stacked" },
      lines.map((line) => el("p", {}, line)),
      el("label", { for: control.id }, label), control, problem,
      el("div", { class: "buttons" },
        el("button", { type: "button", value: "cancel" }, "Cancel"),
        el("button", { type: "submit", class: danger ? "danger solid" : "primary" }, confirmLabel)));
    const dialog = el("dialog", { "aria-labelledby": "bulk-title" }, el("h2", { id: "bulk-title" }, title), form);
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    form.querySelector("button[value=cancel]").addEventListener("click", () => close(null));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); close(null); });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const answer = read();
      if (answer) { close(answer); return; }
      problem.textContent = danger ? "Type the number of leads selected, exactly." : "Fill this in first.";
      control.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
    control.focus();
  });
}

// Shows an action's progress until it ends, then says how it went.
async function followBulk(job, action, box) {
  const bar = el("progress", { max: job.total, value: 0, "aria-label": `${action.verb}` });
  const words = el("span", {});
  clear(box, el("span", {}, `${action.verb}… `), bar, " ", words);
  while (job.state === "queued" || job.state === "running") {
    bar.value = job.processed;
    words.textContent = `${fmtNumber(job.processed)} of ${fmtNumber(job.total)}`;
    await new Promise((resolve) => setTimeout(resolve, BULK_POLL_MS));
    job = await api(`/bulk-actions/${job.id}`);
  }
  clear(box);
  if (job.state === "done") {
    const leads = job.processed === 1 ? "lead" : "leads";
    toast(`${action.label.replace("…", "")}: done, ${fmtNumber(job.changed)} of ${fmtNumber(job.processed)} ${leads} changed.`);
  } else {
    toast(`${action.label.replace("…", "")}: ${job.state} after ${fmtNumber(job.processed)} leads. ${job.error || ""}`, "error");
  }
}
