// Shared by every page: the API client, DOM helpers, toasts, dialogs, formatting.
"use strict";

const BOOT = JSON.parse(document.getElementById("boot")?.textContent || "{}");

// `problems`: each bad value of a 422 that named several ([{path, message}]), else empty.
class ApiError extends Error {
  constructor(message, status, path, problems) {
    super(message);
    this.status = status;
    this.path = path || null;
    this.problems = problems || [];
  }
}

// Calls /api/v1/projects/{project}{path} with the session cookie and the CSRF token.
async function api(path, { method = "GET", body, raw = false, signal } = {}) {
  const headers = { Accept: "application/json", "X-CSRF-Token": BOOT.csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api/v1/projects/${encodeURIComponent(BOOT.project)}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  if (response.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new ApiError("Your session has ended: log in again.", 401);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    let where = null;
    let problems = [];
    try {
      const error = (await response.json()).error || {};
      message = error.message || message;
      where = error.path || null;
      problems = error.errors || [];
    } catch (_) { /* not JSON */ }
    throw new ApiError(message, response.status, where, problems);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

// el("a", {href: "/x", class: "button"}, "text", child...)
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    // Through the CSSOM: the Content-Security-Policy refuses style attributes set as markup.
    else if (key === "style") node.style.cssText = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = el("div", { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

// An API failure that no part of the page handles (a load answered after what it reads was
// deleted elsewhere, say) is shown as a toast: the user learns of it, and it is no script error.
// Any other rejection is a bug and stays uncaught.
window.addEventListener("unhandledrejection", (event) => {
  if (!(event.reason instanceof ApiError)) return;
  event.preventDefault();
  toast(event.reason.message, "error");
});

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const numberFormat = new Intl.NumberFormat();
const fmtNumber = (n) => (n === null || n === undefined ? "–" : numberFormat.format(n));
// The API's times are UTC; SQLite gives them without an offset, which Date would read as local.
function parseUtc(value) {
  const text = String(value);
  return new Date(/T[^Z+-]*$/.test(text) ? `${text}Z` : text);
}
function fmtDate(value, withTime = true) {
  if (!value) return "–";
  const d = parseUtc(value);
  return withTime ? d.toLocaleString() : d.toLocaleDateString();
}
// A share as a percentage: one decimal below 10%, never "0%" for a share that is not nothing.
function fmtShare(fraction) {
  if (fraction > 0 && fraction < 0.001) return "<0.1%";
  const percent = fraction * 100;
  return `${percent.toLocaleString(undefined, { maximumFractionDigits: percent < 10 ? 1 : 0 })}%`;
}
const leadName = (lead) =>
  [lead.first_name, lead.last_name].filter(Boolean).join(" ") || lead.email || `Lead ${lead.id}`;
// The columns of every table of leads (Leads, a segment's or list's members), by key; each
// table picks its own and says which show by default.
const LEAD_COLUMNS = {
  name: { label: "Name", sort: "name", render: leadName, clip: true, always: true },
  email: { label: "Email", key: "email", sort: "email", clip: "long" },
  company: { label: "Company", key: "company", sort: "company", clip: true },
  job_title: { label: "Job Title", key: "job_title", sort: "job_title", clip: true },
  status: { label: "Status", key: "status", sort: "status", clip: "short" },
  source: { label: "Source", key: "source", sort: "source", clip: "short", hidden: true },
  score: { label: "Score", key: "engagement_score", num: true },
  created: { label: "Created", sort: "created_at", render: (l) => fmtDate(l.created_at, false) },
};
const projectUrl = (path) => `/p/${encodeURIComponent(BOOT.project)}${path}`;

// A modal confirmation: resolves true when the user confirms.
function confirmDialog({ title, lines = [], confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const cancel = el("button", { type: "button" }, "Cancel");
    const ok = el("button", { type: "button", class: danger ? "danger solid" : "primary" }, confirmLabel);
    const dialog = el(
      "dialog",
      { "aria-labelledby": "dialog-title" },
      el("h2", { id: "dialog-title" }, title),
      lines.map((line) => (line instanceof Element ? line : el("p", {}, line))),
      el("div", { class: "buttons" }, cancel, ok),
    );
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    cancel.addEventListener("click", () => close(false));
    ok.addEventListener("click", () => close(true));
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); close(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

// Deleting a segment or a list: the dialog first names what uses it (each a link), and then
// offers what the API allows, deleting it anyway, so nobody meets "delete with ?force=true".
// A segment that campaigns use also asks what becomes of them (`campaignChoice`): removed from
// their audiences, or left to show the segment as deleted. Resolves true once deleted.
async function deleteUsedObject({ noun, name, path, lines, campaignChoice = false }) {
  let usage;
  try { usage = await api(`${path}/usage`); } catch (error) { toast(error.message, "error"); return false; }
  const users = [
    ...usage.segments.map((u) => ["Segment", u.name, `/segments/${u.id}`]),
    ...usage.campaigns.map((u) => ["Campaign", u.name, `/campaigns/${u.id}`]),
    ...usage.lists.map((u) => ["List", u.name, `/lists/${u.id}`]),
  ];
  const used = users.length > 0;
  const choice = campaignChoice && usage.campaigns.length ? campaignsChoice(noun, usage.campaigns.length) : null;
  const sure = await confirmDialog({
    title: `Delete "${name}"?`,
    lines: used ? [
      `This ${noun} is used by ${users.length === 1 ? "1 other object" : `${users.length} other objects`}:`,
      el("ul", { class: "used-by" }, users.map(([kind, userName, href]) =>
        el("li", {}, `${kind} `, el("a", { href: projectUrl(href) }, userName)))),
      choice === null || users.length > usage.campaigns.length
        ? `Each of them will need updating once the ${noun} is gone: until then it shows an error or matches no one through it.`
        : null,
      choice,
      ...lines,
    ].filter((line) => line !== null) : lines,
    confirmLabel: used ? "Delete anyway" : "Delete",
    danger: true,
  });
  if (!sure) return false;
  const params = new URLSearchParams();
  if (used) params.set("force", "true");
  if (choice !== null) params.set("campaigns", choice.querySelector("input:checked").value);
  try {
    await api(used ? `${path}?${params}` : path, { method: "DELETE" });
  } catch (error) {
    toast(error.message, "error");
    return false;
  }
  return true;
}

// What becomes of the campaigns that use a segment about to be deleted (DELETE ?campaigns=).
function campaignsChoice(noun, count) {
  const them = count === 1 ? "the campaign" : `the ${count} campaigns`;
  const option = (value, label, note, checked) => el("label", { class: "choice" },
    el("input", { type: "radio", name: "campaigns-choice", value, checked }), " ", el("strong", {}, label),
    el("span", { class: "muted" }, ` ${note}`));
  return el("fieldset", { class: "campaigns-choice" },
    el("legend", {}, `What should happen to ${them}?`),
    option("detach", `Remove the ${noun} from ${them}`,
      `Their audiences no longer include (or exclude) it; one left with no segment or list cannot send and says so.`, true),
    option("keep", `Leave ${them} showing an error`,
      `They keep naming the deleted ${noun} and show "segment deleted" until edited; their runs fail.`, false));
}

// A modal asking for one line of text: resolves to it, or null when cancelled.
function promptDialog({ title, label, confirmLabel = "Save", note = null }) {
  return new Promise((resolve) => {
    const input = el("input", { id: "prompt-input", required: true, maxlength: 255 });
    const form = el("form", { method: "dialog", class: "stacked" },
      el("label", { for: "prompt-input" }, label), input,
      note ? el("p", { class: "muted" }, note) : null,
      el("div", { class: "buttons" },
        el("button", { type: "button", value: "cancel" }, "Cancel"),
        el("button", { type: "submit", class: "primary" }, confirmLabel)));
    const dialog = el("dialog", { "aria-labelledby": "prompt-title" }, el("h2", { id: "prompt-title" }, title), form);
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    form.querySelector("button[value=cancel]").addEventListener("click", () => close(null));
    form.addEventListener("submit", (event) => { event.preventDefault(); if (input.value.trim()) close(input.value.trim()); });
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); close(null); });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

// Downloads a CSV export from the API; resolves to the number of data rows.
async function downloadCsv(path, fallbackName) {
  const response = await api(path, { raw: true });
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || fallbackName;
  const rows = csvRowCount(await blob.text());
  const link = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  return rows;
}

// The data rows of a CSV: its line ends outside quoted fields, less the header's. (An empty
// line is a row: a lead with nothing in an export of one column.)
function csvRowCount(text) {
  const unquoted = text.replace(/"[^"]*"/g, "");
  return Math.max((unquoted.match(/\n/g) || []).length - 1, 0);
}

// The columns an export may hold ({key, header, default}), asked of the API once a page.
let exportColumns = null;
function loadExportColumns() {
  exportColumns ??= api("/exports/columns").then((answer) => answer.items)
    .catch((error) => { exportColumns = null; throw error; });  // asked again on the next click
  return exportColumns;
}

// Export: a dialog asks which columns (the API's defaults ticked, one at least), then the CSV
// of `path` downloads with them. Resolves to the number of rows exported, or null if cancelled.
async function exportCsv(path, fallbackName) {
  const keys = await columnsDialog(await loadExportColumns());
  if (!keys) return null;
  return downloadCsv(`${path}?${new URLSearchParams({ columns: keys.join(",") })}`, fallbackName);
}

function columnsDialog(columns) {
  return new Promise((resolve) => {
    const boxes = columns.map((column) =>
      el("input", { type: "checkbox", name: "columns", value: column.key, checked: column.default }));
    const problem = el("p", { class: "field-error", id: "export-columns-problem", role: "alert" });
    const choices = el("fieldset", { class: "export-columns", "aria-describedby": "export-columns-problem" },
      el("legend", {}, "Columns"),
      el("div", { class: "choices" }, columns.map((column, at) =>
        el("label", { class: "choice" }, boxes[at], ` ${column.header}`))));
    const cancel = el("button", { type: "button" }, "Cancel");
    const form = el("form", { method: "dialog", class: "stacked" }, choices, problem,
      el("div", { class: "buttons" }, cancel, el("button", { type: "submit", class: "primary" }, "Download")));
    const dialog = el("dialog", { "aria-labelledby": "export-title" },
      el("h2", { id: "export-title" }, "Export CSV"), form);
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    cancel.addEventListener("click", () => close(null));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); close(null); });
    for (const box of boxes) box.addEventListener("change", () => { problem.textContent = ""; });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const keys = boxes.filter((box) => box.checked).map((box) => box.value);
      if (keys.length) { close(keys); return; }
      problem.textContent = "Choose at least one column.";
      boxes[0].focus();
    });
    document.body.append(dialog);
    dialog.showModal();
    boxes[0]?.focus();
  });
}

// A sortable, paged table over an API list ({items, total, page, per_page}).
// `empty`: what an empty table says; `emptySearch(q)`: what it says when a search found nothing
// (not that there is nothing at all).
// Columns ({label, key | render, sort, num, clip, hidden, always}) can be chosen from its
// "Columns" menu, remembered under `name`; `toolbar`: where that menu goes (else above the table).
// `clip` ("short", true or "long") cuts long text to one line, the whole value in its title;
// `hidden`: left out until chosen; `always`: cannot be left out (the name, a row's action).
// A table wider than its area scrolls in its wrapper with the first column held in place.
// `selectable`: a box on each row and one for the page; the rows ticked are kept across pages
// (until the search changes) and `onSelect({ ids, all, total })` hears each change, `all`
// meaning every row of the search chosen with `selectAll()`.
function pagedTable({ mount, columns, load, name, toolbar, perPage = 50, sort = "-created_at", rowLink,
  empty = "Nothing here yet.", emptySearch = (q) => `Nothing matches the search “${q}”.`,
  selectable = false, onSelect = () => {} }) {
  const state = { page: 1, sort, q: "" };
  const chosen = new Map();  // id -> row, over every page seen
  let allChosen = false;
  const selection = () => ({ ids: [...chosen.keys()], all: allChosen, total: latestResult?.total ?? 0,
    pageFull: !!latestResult?.items.length && latestResult.items.every((item) => chosen.has(item.id)) });
  const selected = () => { onSelect(selection()); if (latestResult) draw(latestResult); };
  function pick(item, on) {
    allChosen = false;
    if (on) chosen.set(item.id, item); else chosen.delete(item.id);
    selected();
  }
  function pickPage(on) {
    allChosen = false;
    for (const item of latestResult.items) if (on) chosen.set(item.id, item); else chosen.delete(item.id);
    selected();
  }
  const rowBox = (item) => el("td", { class: "select" }, el("input", { type: "checkbox", checked: allChosen || chosen.has(item.id),
    "aria-label": `Select ${leadName(item)}`, onchange: (e) => pick(item, e.target.checked) }));
  function pageBox() {
    const all = !!latestResult?.items.length && latestResult.items.every((item) => allChosen || chosen.has(item.id));
    return el("th", { scope: "col", class: "select" }, el("input", { type: "checkbox", checked: all,
      "aria-label": "Select every row on this page", onchange: (e) => pickPage(e.target.checked) }));
  }
  const table = el("table", { class: selectable ? "paged selectable" : "paged" });
  const info = el("span", { class: "muted" });
  const prev = el("button", { type: "button" }, "Previous");
  const next = el("button", { type: "button" }, "Next");
  const pager = el("div", { class: "pager" }, prev, info, next);
  const choice = columnChoice(name, columns);
  const menu = columnMenu(columns, choice, () => { if (latestResult) draw(latestResult); });
  const tools = toolbar ? (toolbar.append(menu), null) : el("div", { class: "table-tools" }, menu);
  clear(mount, tools, el("div", { class: "table-wrap" }, table), pager);

  function headCell(c) {
    if (!c.sort) return el("th", { scope: "col", class: c.num ? "num" : null }, c.label);
    const current = state.sort.replace(/^-/, "") === c.sort;
    const aria = current ? (state.sort.startsWith("-") ? "descending" : "ascending") : "none";
    return el("th", { scope: "col", "aria-sort": aria, class: c.num ? "num" : null },
      el("button", { type: "button", class: "sort", onclick: () => {
        state.sort = current && !state.sort.startsWith("-") ? `-${c.sort}` : c.sort;
        state.page = 1;
        render();
      } }, c.label, el("span", { "aria-hidden": "true" }, { ascending: " ▲", descending: " ▼" }[aria] || "")));
  }
  function bodyCell(c, item, first) {
    const value = c.render ? c.render(item) : item[c.key] ?? "";
    const text = typeof value === "string" && value ? value : null;  // a node keeps its own words
    return el("td", { class: cellClass(c), title: c.clip ? text : null },
      first && rowLink ? el("a", { href: rowLink(item) }, value) : value);
  }
  // The rows of the last answer with the columns chosen now (choosing asks the server nothing).
  let latestResult = null;
  function draw(result) {
    const shown = columns.filter((c) => choice.shows(c));
    const body = result.items.length
      ? result.items.map((item) => el("tr", {}, selectable ? rowBox(item) : null, shown.map((c, i) => bodyCell(c, item, i === 0))))
      : [el("tr", {}, el("td", { colspan: shown.length + (selectable ? 1 : 0), class: "muted" }, state.q ? emptySearch(state.q) : empty))];
    clear(table, el("thead", {}, el("tr", {}, selectable ? pageBox() : null, shown.map(headCell))), el("tbody", {}, body));
  }

  let latest = 0;  // answers to earlier requests (a page click, then a search) are dropped
  async function render() {
    const ticket = ++latest;
    info.textContent = "Loading…";
    let result;
    try {
      result = await load({ ...state, perPage });
    } catch (error) {
      if (ticket === latest) info.textContent = error.message;
      return;
    }
    if (ticket !== latest) return;
    latestResult = result;
    draw(result);
    const pages = Math.max(1, Math.ceil(result.total / perPage));
    info.textContent = `Page ${fmtNumber(result.page)} of ${fmtNumber(pages)} · ${fmtNumber(result.total)} in all`;
    prev.disabled = state.page <= 1;
    next.disabled = state.page >= pages;
  }
  prev.addEventListener("click", () => { state.page -= 1; render(); });
  next.addEventListener("click", () => { state.page += 1; render(); });
  // Another search (or filter) selects other rows: what was ticked is let go.
  function forget() {
    if (!chosen.size && !allChosen) return;
    chosen.clear();
    allChosen = false;
    onSelect(selection());
  }
  return {
    render,
    search(q) { state.q = q; state.page = 1; forget(); return render(); },
    state,
    selection,
    selectAll() { allChosen = true; selected(); },
    clearSelection() { chosen.clear(); allChosen = false; selected(); },
  };
}

// A column's header; the column of a row's buttons has none to see, but a screen reader still
// hears what the column holds.
const headerCell = (label) => el("th", { scope: "col" }, label || el("span", { class: "sr-only" }, "Actions"));

const columnId = (c) => c.id || c.key || c.sort || c.label;
const cellClass = (c) => [c.num ? "num" : null, c.clip ? "clip" : null, typeof c.clip === "string" ? c.clip : null]
  .filter(Boolean).join(" ") || null;

// Which columns a table shows: each column's default unless the reader chose otherwise, and
// what they chose is kept per table in localStorage ({id: shown}), so a column added later
// still comes with its default.
function columnChoice(name, columns) {
  const key = `segmint.columns.${name || location.pathname}`;
  let chosen = {};
  try { chosen = JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch (_) { /* unreadable: defaults */ }
  return {
    shows: (c) => c.always || (chosen[columnId(c)] ?? !c.hidden),
    set(c, shown) {
      chosen[columnId(c)] = shown;
      try { localStorage.setItem(key, JSON.stringify(chosen)); } catch (_) { /* storage off: this visit only */ }
    },
  };
}

// The "Columns" button and its small panel of checkboxes. It closes on Escape (focus back on the
// button), on a click elsewhere and when focus leaves it.
let columnMenus = 0;
function columnMenu(columns, choice, changed) {
  const panelId = `column-panel-${++columnMenus}`;
  const button = el("button", { type: "button", class: "columns-button", "aria-expanded": "false", "aria-controls": panelId },
    "Columns");
  const boxes = columns.map((c) => el("input", { type: "checkbox", checked: choice.shows(c), disabled: c.always,
    onchange: (event) => { choice.set(c, event.target.checked); changed(); } }));
  // tabindex -1: a click on a label inside moves focus to the panel, not out of the menu.
  const panel = el("div", { id: panelId, class: "column-panel", tabindex: "-1", hidden: true },
    el("fieldset", {}, el("legend", {}, "Show columns"),
      columns.map((c, i) => el("label", { class: "choice" }, boxes[i], ` ${c.label}`))));
  const menu = el("div", { class: "column-menu" }, button, panel);
  const open = (yes) => { panel.hidden = !yes; button.setAttribute("aria-expanded", String(yes)); };
  button.addEventListener("click", () => {
    open(panel.hidden);
    if (!panel.hidden) boxes.find((box) => !box.disabled)?.focus();
  });
  menu.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || panel.hidden) return;
    event.preventDefault();
    open(false);
    button.focus();
  });
  menu.addEventListener("focusout", (event) => { if (!menu.contains(event.relatedTarget)) open(false); });
  document.addEventListener("click", (event) => { if (!menu.contains(event.target)) open(false); });
  return menu;
}

// A table wider than its wrapper scrolls inside it, and a keyboard can scroll only what it can
// focus: a wrapper that scrolls takes focus (then the arrow keys scroll it) and says what it is.
// A group, not a region: a page of such tables would fill the landmarks with the same name.
const wrapSizes = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const wrap = entry.target.closest(".table-wrap");
    if (wrap) markScrolling(wrap);
  }
});
function markScrolling(wrap) {
  const scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
  for (const [name, value] of [["tabindex", "0"], ["role", "group"], ["aria-label", "Table, scrolls sideways"]]) {
    if (scrolls) wrap.setAttribute(name, value);
    else wrap.removeAttribute(name);
  }
}
const watched = new WeakSet();
function watchTableWraps() {
  for (const wrap of document.querySelectorAll(".table-wrap")) {
    // The wrapper's size follows the window's; its table's, the rows and columns shown.
    for (const node of [wrap, wrap.querySelector("table")]) {
      if (!node || watched.has(node)) continue;
      watched.add(node);
      wrapSizes.observe(node);
    }
  }
}

// The layout: menu toggle on narrow screens, project switch.
document.addEventListener("DOMContentLoaded", () => {
  watchTableWraps();
  new MutationObserver(debounce(watchTableWraps, 50)).observe(document.body, { childList: true, subtree: true });
  const toggle = document.querySelector(".menu-toggle");
  const nav = document.getElementById("nav");
  toggle?.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
  document.querySelector("[data-project-switch]")?.addEventListener("change", (e) => {
    const rest = location.pathname.split("/").slice(3, 4).join("/");
    location.assign(`/p/${encodeURIComponent(e.target.value)}/${rest || "segments"}`);
  });
  const flash = sessionStorage.getItem("segmint-flash");
  if (flash) {
    sessionStorage.removeItem("segmint-flash");
    toast(flash);
  }
});

// A message shown on the next page (after a redirect).
const flashNext = (message) => sessionStorage.setItem("segmint-flash", message);

// A user a lead can be assigned to, as pickers name them: "Ada Lovelace <ada@x.test>", "(me)"
// after the reader.
function assigneeLabel(user, me) {
  const named = user.name ? `${user.name} <${user.email}>` : user.email;
  return user.email === me ? `${named} (me)` : named;
}
