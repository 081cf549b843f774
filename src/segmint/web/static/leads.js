// The leads table (search, the builder as a filter) and a lead's page.
"use strict";

// By default what fits at 1440 px, Score and Created included; Source on demand.
const leadColumns = ["name", "email", "company", "job_title", "status", "source", "score", "created"]
  .map((key) => LEAD_COLUMNS[key]);

// A filter given in the address (`?filter=JSON`, as the Overlap page links a region): the table
// opens on it, the builder starts from it, and a line above the table says what it is.
function filterFromAddress() {
  const text = new URLSearchParams(location.search).get("filter");
  if (!text) return null;
  try { return JSON.parse(text); } catch (_) {
    toast("The filter in the address is not valid JSON: showing every lead.", "error");
    return null;
  }
}

// "in segment “Hot” and in list “Webinar” and not in segment “Big”": a filter of references in
// words, with their names; any other filter in the text syntax.
function referencesInWords(node) {
  switch (node.type) {
    case "and": return node.children.map(referencesInWords).join(" and ");
    case "not": { const child = referencesInWords(node.child); return child === null ? null : `not ${child}`; }
    case "in_segment": return `in segment “${node.name ?? node.segment_id}”`;
    case "in_list": return `in list “${node.name ?? node.list_id}”`;
    default: return null;
  }
}

async function showAddressFilter(filter, box) {
  try {
    const parsed = await api("/filters/text", { method: "POST", body: { filter } });
    const words = referencesInWords(parsed.words);
    clear(box, "Showing leads ", words !== null ? words : `where ${parsed.text}`, " · ",
      el("a", { href: projectUrl("/leads") }, "Show all leads"));
  } catch (error) { clear(box, el("span", { class: "error" }, `The filter in the address: ${error.message}`)); }
}

async function leadsPage() {
  let showSelection = () => {};
  let filter = filterFromAddress();
  // What the table shows: the builder's (or the address's) filter, and "Assigned to me".
  const mine = document.getElementById("assigned-to-me");
  const applied = () => {
    const parts = [filter, mine.checked ? { assigned_to_me: true } : null].filter(Boolean);
    return parts.length > 1 ? { and: parts } : parts[0] || null;
  };
  const addressNote = document.getElementById("address-filter");
  if (filter !== null) { addressNote.hidden = false; showAddressFilter(filter, addressNote); }
  const table = pagedTable({
    mount: document.getElementById("lead-table"),
    name: "leads",
    toolbar: document.getElementById("lead-tools"),
    columns: leadColumns,
    rowLink: (lead) => projectUrl(`/leads/${lead.id}`),
    empty: "No lead matches.",
    selectable: true,
    onSelect: (selection) => showSelection(selection),
    load: ({ page, perPage, sort, q }) => {
      const params = new URLSearchParams({ page, per_page: perPage, sort });
      if (q) params.set("q", q);
      if (applied()) params.set("filter", JSON.stringify(applied()));
      return api(`/leads?${params}`);
    },
  });
  table.render();
  // "All N matching": what the table shows, the applied filter and the search.
  const shown = () => ({ ...(applied() ? { filter: applied() } : {}), ...(table.state.q ? { q: table.state.q } : {}) });
  showSelection = bulkBar({ table, mount: document.getElementById("lead-bulk"), everyone: shown, exportFilter: shown });
  const searchBox = document.getElementById("lead-search");
  searchBox.addEventListener("input", debounce((e) => {
    table.search(e.target.value.trim());
    saveAs.disabled = applied() === null && !e.target.value.trim();
  }, 300));
  mine.addEventListener("change", () => {
    saveAs.disabled = applied() === null && !table.state.q;
    table.search(table.state.q);
  });

  const panel = document.getElementById("lead-filter");
  const toggle = document.getElementById("toggle-filter");
  const saveAs = document.getElementById("save-as-segment");
  saveAs.disabled = applied() === null;
  let builder = null;
  toggle.addEventListener("click", async () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
    if (builder || panel.hidden) return;
    const vocabulary = await api("/filters/vocabulary");
    let preview = () => {};
    builder = createBuilder({ mount: document.getElementById("builder"), vocabulary, initial: filter || { and: [] }, onChange: (f) => preview(f) });
    preview = livePreview({ builder, countBox: document.getElementById("live-count"), sampleBox: document.getElementById("preview-sample"),
      warningBox: document.getElementById("preview-warnings"), textBox: null, baseline: null,
      shareBox: document.getElementById("live-share") });
  });
  document.getElementById("apply-filter").addEventListener("click", () => {
    const current = builder.filter();
    const group = current.and || current.or;
    filter = group && !group.length ? null : current;
    addressNote.hidden = true;  // the table shows the builder's filter now
    saveAs.disabled = applied() === null && !table.state.q;
    table.search(table.state.q);
  });
  document.getElementById("clear-filter").addEventListener("click", () => {
    builder.setFilter({ and: [] });
    filter = null;
    addressNote.hidden = true;
    saveAs.disabled = applied() === null && !table.state.q;
    table.search(table.state.q);
  });
  // The segment keeps what the table shows: the filter and the search, which becomes the
  // condition the search is (name, email or company contains the text), and the dialog says so.
  saveAs.addEventListener("click", async () => {
    const q = table.state.q;
    const search = q ? { or: ["name", "email", "company"].map((field) => ({ field, op: "contains", value: q })) } : null;
    const parts = [applied(), search].filter(Boolean);
    const name = await promptDialog({ title: "Save as a segment", label: "Segment name", confirmLabel: "Create Segment",
      note: search ? `The search “${q}” is kept as a condition: name, email or company contains “${q}”.` : null });
    if (!name) return;
    try {
      const body = { name, filter: parts.length === 1 ? parts[0] : { and: parts } };
      const saved = await api("/segments", { method: "POST", body });
      flashNext(`Segment created successfully with ${fmtNumber(saved.member_count)} members`);
      location.assign(projectUrl(`/segments/${saved.id}`));
    } catch (error) { toast(error.message, "error"); }
  });
}

const FIELD_ORDER = ["email", "first_name", "last_name", "phone", "phone_type", "company", "job_title", "status",
  "source", "owner", "tags", "country", "language", "priority", "group_name", "engagement_score", "max_score",
  "engagement_level", "profile_level", "account_id", "created_at", "updated_at", "last_contacted_at", "last_activity_at"];

function showValue(value) {
  if (value === null || value === undefined || value === "") return el("span", { class: "muted" }, "–");
  if (Array.isArray(value)) return value.length ? el("span", { class: "chips" }, value.map((v) => el("span", { class: "pill" }, v))) : el("span", { class: "muted" }, "–");
  if (typeof value === "object") return el("pre", { style: "margin:0;white-space:pre-wrap" }, JSON.stringify(value, null, 2));
  if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) return fmtDate(value);
  return String(value);
}

function showLeadHead(lead) {
  document.title = `${leadName(lead)} · Segmint`;
  clear(document.getElementById("lead-head"), el("h1", {}, leadName(lead)),
    el("p", { class: "muted" }, [lead.job_title, lead.company].filter(Boolean).join(" at ")));
}

function showLeadFields(lead) {
  const rows = FIELD_ORDER.map((key) => el("tr", {}, el("th", { scope: "row" }, key.replace(/_/g, " ")), el("td", {}, showValue(lead[key]))));
  for (const [key, value] of Object.entries(lead.custom || {})) rows.push(el("tr", {}, el("th", { scope: "row" }, `custom ${key}`), el("td", {}, showValue(value))));
  rows.push(el("tr", {}, el("th", { scope: "row" }, "enrichment"), el("td", {}, showValue(lead.enrichment))));
  clear(document.getElementById("lead-fields"), el("table", { class: "fields" }, el("tbody", {}, rows)));
}

// Evaluated live, so it is right the moment an edit is saved (history follows from the worker).
function showLeadSegments(id) {
  const segmentsBox = document.getElementById("lead-segments");
  return api(`/leads/${id}/segments`).then((result) => clear(segmentsBox, result.items.length
    ? el("ul", { class: "timeline" }, result.items.map((s) => el("li", {}, el("span", { class: "badge", style: `background:${s.color}` }),
        el("a", { href: projectUrl(`/segments/${s.id}`) }, s.name))))
    : el("p", { class: "muted" }, "In no segment right now."))).catch((e) => clear(segmentsBox, el("p", { class: "error" }, e.message)));
}

async function leadPage() {
  const id = BOOT.lead_id;
  let lead;
  try {
    lead = await api(`/leads/${id}`);
  } catch (error) {
    clear(document.getElementById("lead-head"), el("p", { class: "error" }, error.message));
    return;
  }
  showLeadHead(lead);
  showLeadFields(lead);
  leadEditor({
    card: document.getElementById("lead-fields"),
    button: document.getElementById("edit-lead"),
    lead,
    showFields: showLeadFields,
    onSaved: (saved) => { showLeadHead(saved); showLeadSegments(id); },
  });

  const scoreBox = document.getElementById("lead-score");
  api(`/leads/${id}/score-history?limit=20`).then((page) => clear(scoreBox,
    el("dl", { class: "stats" },
      el("div", {}, el("dt", {}, "Score"), el("dd", { id: "score-now" }, fmtNumber(lead.engagement_score))),
      el("div", {}, el("dt", {}, "Highest"), el("dd", {}, fmtNumber(lead.max_score))),
      el("div", {}, el("dt", {}, "Level"), el("dd", {}, lead.engagement_level || "–"))),
    page.items.length
      ? el("ul", { class: "timeline" }, page.items.map((p) => el("li", {}, el("strong", {}, fmtNumber(p.score)), el("span", { class: "muted" }, ` · ${fmtDate(p.at)}`))))
      : el("p", { class: "muted" }, "No score changes yet."))).catch((e) => clear(scoreBox, el("p", { class: "error" }, e.message)));

  showLeadSegments(id);

  const historyBox = document.getElementById("lead-history");
  api(`/leads/${id}/history?limit=50`).then((page) => clear(historyBox, page.items.length
    ? el("ul", { class: "timeline" }, page.items.map((h) => el("li", {}, el("span", { class: `pill ${h.change}` }, h.change), " ",
        el("a", { href: projectUrl(`/segments/${h.segment_id}`) }, h.segment_name || `Segment ${h.segment_id}`),
        el("span", { class: "muted" }, ` · ${fmtDate(h.at)} · ${h.reason.replace("_", " ")}`))))
    : el("p", { class: "muted" }, "No membership changes yet."))).catch((e) => clear(historyBox, el("p", { class: "error" }, e.message)));

  const eventsBox = document.getElementById("lead-events");
  const timeline = el("ul", { class: "timeline" });
  const more = el("button", { type: "button" }, "Older events");
  let before = null;
  async function loadEvents() {
    const params = new URLSearchParams({ limit: 25 });
    if (before !== null) params.set("before", before);
    try {
      const page = await api(`/leads/${id}/events?${params}`);
      timeline.append(...page.items.map((e) => el("li", {}, el("strong", {}, e.type), el("span", { class: "muted" }, ` · ${fmtDate(e.occurred_at)}`),
        Object.keys(e.metadata).length ? el("div", { class: "muted" }, Object.entries(e.metadata).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ")) : null)));
      before = page.next_before;
      more.hidden = before === null;
      if (!timeline.children.length) clear(eventsBox, el("p", { class: "muted" }, "No events yet."));
      else if (!eventsBox.contains(timeline)) clear(eventsBox, timeline, more);
    } catch (error) { clear(eventsBox, el("p", { class: "error" }, error.message)); }
  }
  more.addEventListener("click", loadEvents);
  loadEvents();
}

if (document.body.dataset.page === "leads") leadsPage();
if (document.body.dataset.page === "lead") leadPage();
