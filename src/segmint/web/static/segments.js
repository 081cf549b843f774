// The segments list and the segment detail page.
"use strict";

const badge = (color) => el("span", { class: "badge", style: `background:${color || "#9ca3af"}`, "aria-hidden": "true" });
const enrichment = (lead) => (lead.enrichment && Object.keys(lead.enrichment).length ? "Enriched" : "Not enriched");

function deleteSegment(segment) {
  return deleteUsedObject({
    noun: "segment",
    name: segment.name,
    path: `/segments/${segment.id}`,
    campaignChoice: true,
    lines: [
      "This action cannot be undone.",
      "Filter criteria will be permanently deleted.",
      "Leads themselves will NOT be deleted (only the segment definition).",
    ],
  });
}

// -- the list ---------------------------------------------------------------------------------
function segmentsList() {
  const rows = document.getElementById("segment-rows");
  const search = document.getElementById("segment-search");
  const creator = document.getElementById("segment-creator");  // owners and admins only
  const tag = document.getElementById("segment-tag");
  let scope = "mine";

  // The creators and tags the segments in view can be filtered by; a choice no longer among
  // them is kept, so the list never silently widens.
  async function loadFacets() {
    let facets;
    try { facets = await api(`/segments/facets?scope=${scope}`); } catch (error) { return; }
    fillSelect(tag, facets.tags.map((t) => [t.value, `${t.value} (${fmtNumber(t.segments)})`]));
    if (creator) fillSelect(creator, facets.creators.map((c) => [c.value, `${c.value} (${fmtNumber(c.segments)})`]));
  }
  function fillSelect(select, options) {
    const chosen = select.value;
    const fixed = [...select.options].filter((o) => "fixed" in o.dataset);
    clear(select, fixed, options.map(([value, label]) => el("option", { value }, label)));
    if (chosen && ![...select.options].some((o) => o.value === chosen)) select.append(el("option", { value: chosen }, chosen));
    select.value = chosen;
  }

  let latest = 0;  // answers to earlier requests (a creator, then a tag chosen) are dropped
  async function load() {
    const ticket = ++latest;
    const params = new URLSearchParams({ scope });
    if (search.value.trim()) params.set("q", search.value.trim());
    if (creator && scope === "all" && creator.value) params.set("created_by", creator.value);
    if (tag.value) params.set("tag", tag.value);
    let result;
    try {
      result = await api(`/segments?${params}`);
    } catch (error) {
      if (ticket === latest) clear(rows, el("tr", {}, el("td", { colspan: 6, class: "error" }, error.message)));
      return;
    }
    if (ticket !== latest) return;
    if (!result.items.length) {
      const narrowed = search.value || tag.value || (creator && scope === "all" && creator.value);
      const hint = narrowed ? "No segment matches your search and filters." : "No segments yet: create your first one.";
      clear(rows, el("tr", {}, el("td", { colspan: 6, class: "muted" }, hint)));
      return;
    }
    // data-label: on narrow screens each row is a card of labelled lines (table.stack).
    clear(rows, result.items.map((s) => el("tr", {},
      el("td", { class: "title", "data-label": "" },
        badge(s.color),
        el("a", { href: projectUrl(`/segments/${s.id}`), class: "one-line", title: s.name }, s.name),
        s.description ? el("div", { class: "muted two-lines", title: s.description }, s.description) : null,
        rulesSummary(s.words),
        s.tags.length ? el("div", { class: "tag-list" }, s.tags.map((t) => el("button", { type: "button", class: "tag",
          title: `Show segments tagged ${t}`, onclick: () => chooseTag(t) }, t))) : null),
      el("td", { class: "num", "data-label": "Members" }, fmtNumber(s.member_count),
        s.audience === "accounts" ? el("div", { class: "muted" }, "accounts") : null),
      el("td", { "data-label": "State" }, s.audience === "accounts"
        ? el("span", { class: s.active ? "pill" : "pill off",
          title: s.active ? "An account segment: members listed live, history kept" : "An inactive account segment: history paused" }, "Accounts")
        : el("span", { class: s.active ? "pill" : "pill off" }, s.active ? "Active" : "Inactive")),
      el("td", { class: "clip", "data-label": "Owner", title: s.created_by }, s.created_by || "–"),
      el("td", { "data-label": "Created" }, fmtDate(s.created_at, false)),
      el("td", { "data-label": "" }, el("button", { type: "button", class: "danger", "aria-label": `Delete ${s.name}`,
        onclick: async () => { if (await deleteSegment(s)) { toast("Segment deleted."); load(); } } }, "Delete")),
    )));
  }
  function chooseTag(value) {
    if (![...tag.options].some((o) => o.value === value)) tag.append(el("option", { value }, value));
    tag.value = value;
    load();
  }
  search.addEventListener("input", debounce(load, 250));
  tag.addEventListener("change", load);
  if (creator) creator.addEventListener("change", load);
  document.querySelectorAll("[data-scope]").forEach((button) => button.addEventListener("click", () => {
    scope = button.dataset.scope;
    document.querySelectorAll("[data-scope]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    if (creator) creator.hidden = scope !== "all";  // "My segments" are all the reader's own
    loadFacets();
    load();
  }));
  loadFacets();
  load();
}

// A listed segment's conditions on one line: "Status is new and (Did trial_signup … or …)".
function rulesText(node, nested = false) {
  switch (node.type) {
    case "and":
    case "or": {
      const text = node.children.map((c) => rulesText(c, true)).join(node.type === "and" ? " and " : " or ");
      return nested && node.children.length > 1 ? `(${text})` : text;
    }
    case "not": return `not ${rulesText(node.child, true)}`;
    case "condition": return `${node.field_label} ${conditionWords(node)}`;
    case "event": return eventWords(node);
    case "distinct_events": return distinctWords(node);
    case "sequence": return sequenceWords(node);
    case "in_segment": return `in segment ${node.name ?? `#${node.segment_id} (deleted)`}`;
    case "in_account_segment": return `account in segment ${node.name ?? `#${node.segment_id} (deleted)`}`;
    case "leads": return `${leadsWords(node)} matching (${rulesText(node.where)})`;
    default: return `in list ${node.name ?? `#${node.list_id} (deleted)`}`;
  }
}

// An account segment's row over its leads: "At least 3 leads", "No lead", "Between 1 and 2 leads".
function leadsWords(node) {
  const leads = (n) => `${fmtNumber(n)} lead${n === 1 ? "" : "s"}`;
  if (node.max_count === null) return `At least ${leads(node.min_count)}`;
  if (node.max_count === 0) return "No lead";
  if (node.min_count === node.max_count) return `Exactly ${leads(node.min_count)}`;
  return node.min_count === 0 ? `At most ${leads(node.max_count)}` : `Between ${fmtNumber(node.min_count)} and ${leads(node.max_count)}`;
}

function rulesSummary(words) {
  if (!words) return null;  // a filter the reader may not evaluate: no count, no rules either
  const text = rulesText(words);
  return el("div", { class: "muted rules two-lines", title: text }, text);
}

// -- the detail page --------------------------------------------------------------------------
// "Why?" in words: "Company size is at least 50: 120 ✓", dates and numbers in the reader's
// format, never an operator's key or a raw ISO stamp.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;
const PERIODS = { today: "today", yesterday: "yesterday", this_week: "this week", last_week: "last week",
  this_month: "this month", last_month: "last month", this_year: "this year" };

function readable(value) {
  if (value === null || value === undefined || value === "") return "unknown";
  if (Array.isArray(value)) return value.length ? value.map(readable).join(", ") : "none";
  if (typeof value === "number") return fmtNumber(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string") return ISO_DATE.test(value) ? fmtDate(value, value.includes("T")) : value;
  return JSON.stringify(value);
}

function conditionWords(node) {
  const days = (n) => `${fmtNumber(n)} day${n === 1 ? "" : "s"}`;
  switch (node.op) {
    case "within_last": return `is within the last ${days(node.value)}`;
    case "older_than": return `is more than ${days(node.value)} ago`;
    case "in_period": return `is ${PERIODS[node.value] || node.value}`;
    case "between":
    case "not_between": return `${node.op_label} ${readable(node.value[0])} and ${readable(node.value[1])}`;
    case "is_null":
    case "is_not_null": return node.op_label;
    default: return `${node.op_label} ${readable(node.value)}`;
  }
}

function eventWords(node) {
  const times = (n) => `${fmtNumber(n)} time${n === 1 ? "" : "s"}`;
  let count = node.max_count === null ? `at least ${times(node.min_count)}`
    : node.min_count === node.max_count ? `exactly ${times(node.min_count)}`
    : `between ${fmtNumber(node.min_count)} and ${times(node.max_count)}`;
  const days = (n) => `${fmtNumber(n)} day${n === 1 ? "" : "s"}`;
  if (node.within_days !== null) count += ` in the last ${days(node.within_days)}`;
  if (node.older_than_days != null) {
    count += node.within_days !== null ? ` but not in the last ${days(node.older_than_days)}`
      : ` more than ${days(node.older_than_days)} ago`;
  }
  if (node.min_distinct_days != null) count += `, on at least ${days(node.min_distinct_days)}`;
  const total = node.aggregate;
  if (total) {
    const fn = { sum: "total", avg: "average", min: "lowest", max: "highest" }[total.fn] || total.fn;
    const op = { eq: "=", neq: "≠", gt: ">", gte: "≥", lt: "<", lte: "≤" }[total.op];
    const value = total.op === "between" ? `between ${readable(total.value[0])} and ${readable(total.value[1])}`
      : `${op} ${readable(total.value)}`;
    count += `, ${fn} ${total.path} ${value}`;
  }
  return `${node.performed ? "Did" : "Did not do"} ${node.event} ${count}`;
}

function distinctWords(node) {
  const of = node.types ? ` of ${node.types.join(", ")}` : "";
  const within = node.within_days !== null
    ? ` in the last ${fmtNumber(node.within_days)} day${node.within_days === 1 ? "" : "s"}` : "";
  return `Did at least ${fmtNumber(node.distinct_events)} distinct events${of}${within}`;
}

// "Did signup, then api_call (within 3 days, starting in the last 30 days)".
function sequenceWords(node) {
  const days = (n) => `${fmtNumber(n)} day${n === 1 ? "" : "s"}`;
  const windows = [];
  if (node.within_days !== null) windows.push(`all within ${days(node.within_days)}`);
  if (node.since_days !== null) windows.push(`starting in the last ${days(node.since_days)}`);
  if (node.not_between) windows.push(`without ${node.not_between.event} in between`);
  const steps = node.steps.map((step) => step.event).join(", then ");
  return `Did ${steps}${windows.length ? ` (${windows.join(", ")})` : ""}`;
}

// A random split's range in words: buckets low..high-1 of 100, and its salt when it has one.
function bucketWords(node) {
  const salt = node.salt ? ` (salt “${node.salt}”)` : "";
  return `In random bucket ${fmtNumber(node.low)}–${fmtNumber(node.high - 1)} of 0–99${salt}`;
}

// Time in segment: "In segment X for at least 14 days" / "entered within the last 7 days".
function segmentTimeWords(node) {
  const days = `${fmtNumber(node.days)} day${node.days === 1 ? "" : "s"}`;
  return node.timing === "for_at_least_days" ? ` for at least ${days}` : `, entered within the last ${days}`;
}

function whyTree(node) {
  const mark = el("span", { class: node.result ? "yes" : "no", "aria-label": node.result ? "true" : "false" },
    node.result ? " ✓" : " ✗");
  switch (node.type) {
    case "and":
    case "or":
      return el("li", {}, node.type === "and" ? "All of these" : "Any of these", mark,
        el("ul", {}, node.children.map(whyTree)));
    case "not":
      return el("li", {}, "None of this", mark, el("ul", {}, whyTree(node.child)));
    case "condition":
      return el("li", {}, `${node.field_label} ${conditionWords(node)}: `,
        el("strong", {}, readable(node.lead_value)), mark);
    case "event":
      return el("li", {}, `${eventWords(node)}: `,
        el("strong", {}, `${fmtNumber(node.count)} matching`), mark);
    case "distinct_events":
      return el("li", {}, `${distinctWords(node)}: `,
        el("strong", {}, `${fmtNumber(node.count)} types`), mark);
    case "sequence":
      return el("li", {}, sequenceWords(node), mark);
    case "in_segment":
      return el("li", {}, "In segment ", referenceLink(node), mark, el("ul", {}, whyTree(node.child)));
    case "in_account_segment":
      return el("li", {}, "Account in segment ", referenceLink(node), mark, node.child ? el("ul", {}, whyTree(node.child)) : null);
    case "leads":
      return el("li", {}, `${leadsWords(node)} matching: `, el("strong", {}, `${fmtNumber(node.count)} do`), mark);
    case "manual":
      return el("li", {}, node.kind === "include" ? "Included by hand" : "Excluded by hand", mark);
    case "bucket":
      return el("li", {}, `${bucketWords(node)}: `, el("strong", {}, `bucket ${node.lead_value}`), mark);
    case "segment_time":
      return el("li", {}, "In segment ", referenceLink(node), segmentTimeWords(node), ": ",
        el("strong", {}, node.lead_value ? `member since ${readable(node.lead_value)}` : "not a member"), mark);
    default:
      return el("li", {}, "In list ", referenceLink(node), mark);
  }
}

// A referenced segment or list by name, linked; one deleted since is said to be.
function referenceLink(node) {
  const [id, path] = node.type === "in_list" ? [node.list_id, "lists"] : [node.segment_id, "segments"];
  if (node.name === null || node.name === undefined) return el("span", {}, `#${id} (deleted)`);
  return el("a", { href: projectUrl(`/${path}/${id}`) }, node.name);
}

// The segment's conditions in words, from the API's tree in words (POST /filters/text).
function describeTree(node) {
  switch (node.type) {
    case "and":
    case "or":
      return el("li", {}, node.type === "and" ? "All of these" : "Any of these",
        el("ul", {}, node.children.map(describeTree)));
    case "not":
      return el("li", {}, "None of this", el("ul", {}, describeTree(node.child)));
    case "condition":
      return el("li", {}, `${node.field_label} ${conditionWords(node)}`);
    case "event":
      return el("li", {}, eventWords(node),
        node.where ? el("ul", {}, el("li", {}, "each where", el("ul", {}, describeTree(node.where)))) : null);
    case "leads":
      return el("li", {}, `${leadsWords(node)} matching`, el("ul", {}, describeTree(node.where)));
    case "in_account_segment":
      return el("li", {}, "Account in segment ", referenceLink(node));
    case "distinct_events":
      return el("li", {}, distinctWords(node));
    case "sequence":
      return el("li", {}, sequenceWords(node), el("ul", {}, node.steps.filter((step) => step.where).map((step) =>
        el("li", {}, `each ${step.event} where`, el("ul", {}, describeTree(step.where)))),
        node.not_between?.where ? el("li", {}, `no ${node.not_between.event} in between where`,
          el("ul", {}, describeTree(node.not_between.where))) : null));
    case "bucket":
      return el("li", {}, bucketWords(node));
    case "segment_time":
      return el("li", {}, "In segment ", referenceLink(node), segmentTimeWords(node));
    default:
      return el("li", {}, node.type === "in_segment" ? "In segment " : "In list ", referenceLink(node));
  }
}

async function segmentDetail() {
  const id = BOOT.segment_id;
  const head = document.getElementById("segment-head");
  const actions = document.getElementById("segment-actions");
  let segment;
  let count = 0;

  async function loadHeader() {
    try {
      segment = await api(`/segments/${id}`);  // counts live, and stamps "last evaluated"
      count = segment.member_count;
    } catch (error) {
      clear(head, el("p", { class: "error" }, error.message));
      return;
    }
    document.title = `${segment.name} · Segmint`;
    const ofAccounts = segment.audience === "accounts";
    // An account segment's members are listed live; an inactive one's history is paused.
    const state = segment.active ? "Active: always current" : "Inactive (members frozen)";
    clear(head,
      el("h1", {}, badge(segment.color), segment.name),
      segment.description ? el("p", { class: "muted" }, segment.description) : null,
      segment.tags.length ? el("p", { class: "tag-list", "aria-label": "Tags" }, segment.tags.map((t) => el("span", { class: "tag" }, t))) : null,
      el("dl", { class: "stats" },
        el("div", {}, el("dt", {}, ofAccounts ? "Member accounts" : "Members"), el("dd", { id: "member-count" }, fmtNumber(count))),
        ofAccounts ? null : el("div", {}, el("dt", {}, "Share of all leads"), el("dd", { id: "member-share" }, "…")),
        el("div", {}, el("dt", {}, "State"), el("dd", { id: "segment-state" }, state)),
        el("div", {}, el("dt", {}, "Created"), el("dd", {}, fmtDate(segment.created_at))),
        el("div", {}, el("dt", {}, "Created by"), el("dd", {}, segment.created_by || "–")),
        el("div", {}, el("dt", {}, "Last evaluated"), el("dd", {}, fmtDate(segment.last_evaluated_at)))));
    renderActions();
    if (!ofAccounts) loadShare();
    loadConditions();
  }

  // "12.5% of 10,000 leads": the whole counted live, as the members are.
  async function loadShare() {
    const share = document.getElementById("member-share");
    try {
      const all = (await api("/leads/count")).count;
      share.textContent = all ? `${fmtShare(count / all)} of ${fmtNumber(all)}` : "–";
    } catch (error) { share.textContent = "–"; }
  }

  async function loadConditions() {
    const box = document.getElementById("conditions");
    const frozen = segment.active ? null
      : el("p", { class: "muted" }, "Inactive: its members are frozen as these conditions chose them when it was deactivated.");
    try {
      const parsed = await api(`/filters/text?audience=${segment.audience}`, { method: "POST", body: { filter: segment.filter } });
      clear(box, el("ul", { class: "why" }, describeTree(parsed.words)), frozen);
    } catch (error) { clear(box, el("p", { class: "error" }, error.message)); }
  }

  async function loadUsage() {
    const box = document.getElementById("used-by");
    try {
      const usage = await api(`/segments/${id}/usage`);
      const users = [
        ...usage.campaigns.map((u) => ["Campaign", u.name, `/campaigns/${u.id}`]),
        ...usage.segments.map((u) => ["Segment", u.name, `/segments/${u.id}`]),
        ...usage.lists.map((u) => ["List", u.name, `/lists/${u.id}`]),
      ];
      clear(box, users.length
        ? el("ul", { class: "used-by" }, users.map(([kind, name, href]) => el("li", {}, `${kind} `, el("a", { href: projectUrl(href) }, name))))
        : el("p", { class: "muted" }, "No campaign, segment or list uses this segment."));
    } catch (error) { clear(box, el("p", { class: "error" }, error.message)); }
  }

  function renderActions() {
    if (segment.audience === "accounts") {
      clear(actions,
        el("a", { class: "button", href: projectUrl("/segments") }, "Back to Segments"),
        el("button", { type: "button", disabled: count === 0, id: "export-csv", onclick: exportAccounts }, "Export CSV"),
        el("a", { class: "button", href: projectUrl(`/segments/${id}/edit`) }, "Edit"),
        el("button", { type: "button", onclick: duplicate }, "Duplicate"),
        segment.active ? null : refreshButton(),
        el("button", { type: "button", onclick: toggleActive }, segment.active ? "Deactivate" : "Activate"),
        el("button", { type: "button", class: "danger", onclick: remove }, "Delete"));
      return;
    }
    const exportButton = el("button", { type: "button", disabled: count === 0, id: "export-csv",
      title: count === 0 ? "The segment has no members" : null, onclick: exportMembers },
      el("span", { class: "wide-only" }, "Export CSV"), el("span", { class: "narrow-only" }, "Export"));
    clear(actions,
      el("a", { class: "button", href: projectUrl("/segments") }, "Back to Segments"),
      exportButton,
      el("a", { class: "button", href: projectUrl(`/segments/${id}/edit`) }, "Edit"),
      el("a", { class: "button", href: projectUrl(`/overlap?segments=${id}`) }, "Compare with…"),
      el("button", { type: "button", onclick: duplicate }, "Duplicate"),
      el("button", { type: "button", onclick: convert }, "Convert to list"),
      // An active segment's members are maintained as leads change; a frozen one's are
      // recomputed only when asked.
      segment.active ? null : refreshButton(),
      el("button", { type: "button", onclick: toggleActive }, segment.active ? "Deactivate" : "Activate"),
      el("button", { type: "button", class: "danger", onclick: remove }, "Delete"));
  }

  function refreshButton() {
    return el("button", { type: "button", id: "refresh-segment", onclick: refresh,
      title: "Recompute its frozen members from its conditions now, once (it stays inactive)" }, "Refresh");
  }

  async function exportMembers() {
    try {
      const rows = await exportCsv(`/segments/${id}/export.csv`, "segment_export.csv");
      if (rows !== null) toast(`Exported ${fmtNumber(rows)} members to CSV.`);
    } catch (error) {
      toast(error.message || "Failed to export segment members.", "error");
    }
  }
  async function exportAccounts() {
    try {
      const rows = await exportCsv(`/segments/${id}/accounts/export.csv`, "segment_export.csv");
      if (rows !== null) toast(`Exported ${fmtNumber(rows)} accounts to CSV.`);
    } catch (error) {
      toast(error.message || "Failed to export the segment's accounts.", "error");
    }
  }
  // An account segment's members: accounts with their lead counts, 50 at a time (a keyset).
  function accountMembers() {
    for (const box of ["member-tools", "member-bulk", "why"]) document.getElementById(box).hidden = true;
    document.getElementById("manual-title").closest("section").hidden = true;
    document.getElementById("members-title").textContent = "Member accounts";
    const box = document.getElementById("members");
    const rowsBox = el("tbody", { id: "account-members" });
    const table = el("div", { class: "table-wrap" }, el("table", { class: "stack" },
      el("thead", {}, el("tr", {}, ["Account", "Domain", "Engagement level", "Profile level", "Leads"]
        .map((h) => el("th", { scope: "col" }, h)))), rowsBox));
    const more = el("button", { type: "button" }, "Show more accounts");
    let next = null;
    async function load() {
      const params = new URLSearchParams({ limit: 50 });
      if (next !== null) params.set("after", next);
      try {
        const page = await api(`/segments/${id}/accounts?${params}`);
        rowsBox.append(...page.items.map((a) => el("tr", {},
          el("td", { "data-label": "Account" }, a.name),
          el("td", { "data-label": "Domain" }, a.domain || "–"),
          el("td", { "data-label": "Engagement level" }, a.engagement_level || "–"),
          el("td", { "data-label": "Profile level" }, a.profile_level || "–"),
          el("td", { "data-label": "Leads" }, fmtNumber(a.lead_count)))));
        next = page.next_after;
        more.hidden = next === null;
        if (!rowsBox.children.length) clear(box, el("p", { class: "muted" }, "No account matches this segment right now."));
        else if (!box.contains(table)) clear(box, table, more);
      } catch (error) { clear(box, el("p", { class: "error" }, error.message)); }
    }
    more.addEventListener("click", load);
    load();
  }
  async function duplicate() {
    try {
      const copy = await api(`/segments/${id}/duplicate`, { method: "POST" });
      flashNext(`Segment duplicated as "${copy.name}".`);
      location.assign(projectUrl(`/segments/${copy.id}`));
    } catch (error) { toast(error.message, "error"); }
  }
  async function convert() {
    try {
      const list = await api(`/segments/${id}/convert-to-list`, { method: "POST" });
      flashNext(`List "${list.name}" created with ${fmtNumber(list.member_count)} members.`);
      location.assign(projectUrl(`/lists/${list.id}`));
    } catch (error) { toast(error.message, "error"); }
  }
  // One request does the work set-wise in the database; while it runs the button says so and
  // the page is marked busy, then the count, members and history show what it changed.
  async function refresh(event) {
    const button = event.currentTarget;
    const status = el("p", { class: "muted", id: "refresh-status", role: "status" },
      `Refreshing "${segment.name}": recomputing ${fmtNumber(count)} frozen members…`);
    button.disabled = true;
    button.textContent = "Refreshing…";
    head.setAttribute("aria-busy", "true");
    head.append(status);
    try {
      const done = await api(`/segments/${id}/refresh`, { method: "POST" });
      toast(`Segment refreshed: ${fmtNumber(done.entered)} entered, ${fmtNumber(done.exited)} left, ` +
        `${fmtNumber(done.member_count)} members.`);
      await loadHeader();
      if (segment.audience === "accounts") accountMembers(); else members.render();
      reloadHistory();
    } catch (error) {
      toast(error.message, "error");
      status.remove();
      button.disabled = false;
      button.textContent = "Refresh";
    } finally {
      head.removeAttribute("aria-busy");
    }
  }
  async function toggleActive() {
    try {
      await api(`/segments/${id}`, { method: "PATCH", body: { active: !segment.active } });
      toast(segment.active ? "Segment deactivated: its members are frozen." : "Segment activated.");
      loadHeader();
    } catch (error) { toast(error.message, "error"); }
  }
  async function remove() {
    if (await deleteSegment(segment)) {
      flashNext("Segment deleted.");
      location.assign(projectUrl("/segments"));
    }
  }

  // Members, 50 a page, searchable and sortable; "Why?" explains one member.
  const why = document.getElementById("why");
  async function explainMember(lead) {
    clear(why, el("p", { class: "muted" }, "Loading…"));
    try {
      const tree = await api(`/segments/${id}/explain/${lead.id}`);
      clear(why, el("h3", {}, `Why ${leadName(lead)} matches`), el("ul", { class: "why" }, whyTree(tree)));
    } catch (error) { clear(why, el("p", { class: "error" }, error.message)); }
    why.scrollIntoView({ block: "nearest" });
  }
  let showSelection = () => {};
  const members = pagedTable({
    mount: document.getElementById("members"),
    selectable: true,
    onSelect: (selection) => showSelection(selection),
    // By default what fits at 1440 px with "Why?" in view; Source and enrichment on demand.
    name: "segment-members",
    toolbar: document.getElementById("member-tools"),
    columns: [
      ...["name", "email", "company", "job_title", "status", "source"].map((key) => LEAD_COLUMNS[key]),
      { label: "Enrichment Status", render: enrichment, hidden: true },
      LEAD_COLUMNS.created,
      { label: "Why", always: true,
        render: (l) => el("button", { type: "button", class: "link", onclick: () => explainMember(l) }, "Why?") },
      { label: "Exclude", always: true,
        render: (l) => el("button", { type: "button", class: "link", "aria-label": `Exclude ${leadName(l)}`,
          onclick: () => changeManual("exclude", "POST", l.id, `${leadName(l)} excluded: never a member, whatever the conditions say.`) }, "Exclude") },
    ],
    rowLink: (lead) => projectUrl(`/leads/${lead.id}`),
    empty: "No lead matches this segment right now.",
    emptySearch: (q) => `No member matches the search “${q}”.`,
    load: ({ page, perPage, sort, q }) => {
      const params = new URLSearchParams({ page, per_page: perPage, sort });
      if (q) params.set("q", q);
      return api(`/segments/${id}/members?${params}`);
    },
  });
  const searched = () => (members.state.q ? { q: members.state.q } : {});
  showSelection = bulkBar({ table: members, mount: document.getElementById("member-bulk"),
    everyone: () => ({ segment_id: id, ...searched() }),
    exportFilter: () => ({ filter: { in_segment: id }, ...searched() }),
    onDone: () => { members.render(); loadHeader(); reloadHistorySoon(); } });
  document.getElementById("member-search").addEventListener("input", debounce((e) => members.search(e.target.value.trim()), 300));

  // History: newest first, more on demand.
  // History: newest first, 20 at a time.
  const history = document.getElementById("history");
  const timeline = el("ul", { class: "timeline" });
  const more = el("button", { type: "button" }, "Show older changes");
  let after = null;
  async function loadHistory() {
    const params = new URLSearchParams({ limit: 20, order: "desc" });
    if (after !== null) params.set("after", after);
    try {
      const page = await api(`/segments/${id}/history?${params}`);
      timeline.append(...page.items.map((h) => el("li", {},
        el("span", { class: `pill ${h.change}` }, h.change), " ",
        historyLead(h),
        el("span", { class: "muted" }, ` · ${fmtDate(h.at)} · ${h.reason.replace("_", " ")} · v${h.segment_version}`))));
      after = page.next_after;
      more.hidden = after === null;
      if (!timeline.children.length) clear(history, el("p", { class: "muted" }, "No membership changes recorded yet."));
      else if (!history.contains(timeline)) clear(history, timeline, more);
    } catch (error) { clear(history, el("p", { class: "error" }, error.message)); }
  }
  more.addEventListener("click", loadHistory);
  function reloadHistory() {
    clear(timeline);
    after = null;
    loadHistory();
  }
  // A change by hand or a bulk action is recorded by the worker a moment later: look again then.
  const reloadHistorySoon = () => [1000, 4000].forEach((ms) => setTimeout(reloadHistory, ms));
  // A history row names its lead (name, else email); a lead deleted since is said to be.
  function historyLead(h) {
    if (h.account_id !== undefined) return historyAccount(h);
    if (h.lead_name === null && h.lead_email === null) return el("span", {}, `Lead ${h.lead_id} (deleted)`);
    return el("a", { href: projectUrl(`/leads/${h.lead_id}`) }, h.lead_name || h.lead_email);
  }

  // An account segment's row names its account (and domain); one deleted since is said to be.
  function historyAccount(h) {
    if (h.account_name === null) return el("span", {}, `Account ${h.account_id} (deleted)`);
    return el("span", { class: "history-account" }, h.account_name, h.account_domain ? el("span", { class: "muted" }, ` (${h.account_domain})`) : null);
  }

  // Saved versions, newest first, 10 at a time: who saved each, when, its conditions on one
  // line; "Read" shows one in full, "Restore" saves an old one as the newest (after a confirm).
  const versionsBox = document.getElementById("versions");
  const versionList = el("ul", { class: "versions" });
  const olderVersions = el("button", { type: "button" }, "Show older versions");
  let versionsBefore = null;
  async function loadVersions() {
    const params = new URLSearchParams({ limit: 10 });
    if (versionsBefore !== null) params.set("before", versionsBefore);
    try {
      const page = await api(`/segments/${id}/versions?${params}`);
      versionList.append(...page.items.map(versionItem));
      versionsBefore = page.next_before;
      olderVersions.hidden = versionsBefore === null;
      if (!versionList.children.length) clear(versionsBox, el("p", { class: "muted" }, "No saved versions yet."));
      else if (!versionsBox.contains(versionList)) clear(versionsBox, versionList, olderVersions);
    } catch (error) { clear(versionsBox, el("p", { class: "error" }, error.message)); }
  }
  olderVersions.addEventListener("click", loadVersions);

  function versionItem(v) {
    const body = el("div", { class: "version-body", id: `version-${v.number}`, hidden: true });
    const read = el("button", { type: "button", class: "link", "aria-expanded": "false", "aria-controls": body.id },
      `Read version ${v.number}`);
    read.addEventListener("click", () => {
      const opening = body.hidden;
      body.hidden = !opening;
      read.setAttribute("aria-expanded", String(opening));
      if (opening && !body.children.length) {
        clear(body,
          el("p", {}, el("strong", {}, v.name)),
          v.description ? el("p", { class: "muted" }, v.description) : null,
          v.words ? el("ul", { class: "why" }, describeTree(v.words))
            : el("p", { class: "muted" }, "These conditions can no longer be shown (they refer to something you may not read, or that was deleted)."));
      }
    });
    const restore = v.current ? null
      : el("button", { type: "button", onclick: () => restoreVersion(v) }, `Restore version ${v.number}`);
    const who = v.saved_by || "unknown";
    const restored = v.restored_from ? ` · restored version ${v.restored_from}` : "";
    return el("li", { "data-version": v.number },
      el("strong", {}, `Version ${v.number}`), " ",
      v.current ? el("span", { class: "pill" }, "current") : null,
      el("span", { class: "muted" }, ` · ${fmtDate(v.saved_at)} · ${who}${restored}`),
      el("span", { class: "version-actions" }, read, restore),
      v.words ? el("div", { class: "muted rules" }, rulesText(v.words)) : null,
      body);
  }

  async function restoreVersion(v) {
    const sure = await confirmDialog({
      title: `Restore version ${v.number}?`,
      lines: [
        `The segment's name, description and conditions become those of version ${v.number} ("${v.name}"), saved as its newest version. No version is lost.`,
        "Its members are re-evaluated under the restored conditions.",
      ],
      confirmLabel: "Restore",
    });
    if (!sure) return;
    try {
      await api(`/segments/${id}/versions/${v.number}/restore`, { method: "POST" });
    } catch (error) { toast(error.message, "error"); return; }
    flashNext(`Version ${v.number} restored.`);
    location.reload();
  }

  async function loadAnalytics() {
    const box = document.getElementById("analytics");
    try {
      const [a, scores] = await Promise.all([
        api(`/segments/${id}/analytics?days=30`),
        api(`/segments/${id}/analytics/scores?days=30`),
      ]);
      // The chart's score line is each day's members with the scores they had then.
      const then = new Map(scores.days.map((d) => [d.day, d.avg_score]));
      a.daily = a.daily.map((d) => ({ ...d, avg_score_then: then.has(d.day) ? then.get(d.day) : null }));
      renderAnalytics(box, a);
      box.append(beforeAfterForm(id));
    } catch (error) { clear(box, el("p", { class: "error" }, error.message)); }
  }

  // An account segment's analytics: its member accounts and their leads now, and the daily
  // trend of accounts rebuilt from its history (accounts carry bands, not scores).
  async function loadAccountAnalytics() {
    const box = document.getElementById("analytics");
    try {
      const a = await api(`/segments/${id}/analytics?days=30`);
      clear(box,
        el("dl", { class: "stats" },
          el("div", {}, el("dt", {}, "Member accounts"), el("dd", { id: "analytics-accounts" }, fmtNumber(a.member_count))),
          el("div", {}, el("dt", {}, "Their leads"), el("dd", { id: "analytics-account-leads" }, fmtNumber(a.lead_count)))),
        el("div", { class: "grid two" },
          el("figure", { class: "card" }, el("figcaption", {}, "Member accounts"),
            lineChart(a.daily, [{ key: "member_count", label: "Member accounts" }])),
          el("figure", { class: "card" }, el("figcaption", {}, "Entered and exited per day"),
            barChart(a.daily, "Accounts"))));
    } catch (error) { clear(box, el("p", { class: "error" }, error.message)); }
  }

  // Leads included or excluded by hand: 20 at a time, each removable.
  function manualList(kind) {
    const box = document.getElementById(`${kind}d`);
    const list = el("ul", { class: "timeline", id: `${kind}d-leads` });
    const more = el("button", { type: "button" }, "Show more");
    let next = null;
    async function load(reset) {
      if (reset) { next = null; list.replaceChildren(); }
      const params = new URLSearchParams({ limit: 20 });
      if (next !== null) params.set("after", next);
      try {
        const page = await api(`/segments/${id}/${kind}s?${params}`);
        list.append(...page.items.map((m) => el("li", {},
          el("a", { href: projectUrl(`/leads/${m.lead_id}`) }, m.name || m.email || `Lead ${m.lead_id}`),
          el("span", { class: "muted" }, ` · ${fmtDate(m.added_at)} `),
          el("button", { type: "button", class: "link", "aria-label": `Remove ${m.name || m.email || m.lead_id} from ${kind}d leads`,
            onclick: () => changeManual(kind, "DELETE", m.lead_id, kind === "include"
              ? "No longer included: the conditions decide again." : "No longer excluded: the conditions decide again.") }, "Remove"))));
        next = page.next_after;
        more.hidden = next === null;
        if (!list.children.length) clear(box, el("p", { class: "muted" }, kind === "include" ? "No lead is included by hand." : "No lead is excluded by hand."));
        else clear(box, el("p", { class: "muted" }, `${fmtNumber(page.total)} in all`), list, more);
      } catch (error) { clear(box, el("p", { class: "error" }, error.message)); }
    }
    more.addEventListener("click", () => load(false));
    return load;
  }
  const manualLists = { include: manualList("include"), exclude: manualList("exclude") };
  async function changeManual(kind, method, leadId, message) {
    try {
      await api(`/segments/${id}/${kind}s`, { method, body: { lead_ids: [leadId] } });
      toast(message);
      manualLists.include(true);
      manualLists.exclude(true);
      members.render();
      loadHeader();
      reloadHistorySoon();
    } catch (error) { toast(error.message, "error"); }
  }

  await loadHeader();
  loadUsage();
  if (segment && segment.audience === "accounts") {
    accountMembers();
    loadAccountAnalytics();
    loadHistory();
    loadVersions();
    return;
  }
  members.render();
  manualLists.include(true);
  manualLists.exclude(true);
  loadHistory();
  loadVersions();
  loadAnalytics();
}

// The current members' average score at a date and some days later (a webinar's effect, say).
function beforeAfterForm(segmentId) {
  const at = el("input", { id: "before-after-at", type: "date", required: true });
  const days = el("input", { id: "before-after-days", type: "number", min: "1", max: "365", value: "7" });
  const result = el("p", { id: "before-after-result", "aria-live": "polite" });
  const fmt = (v) => (v === null ? "–" : v.toFixed(1));
  async function compare(event) {
    event.preventDefault();
    const params = new URLSearchParams({ at: at.value, after_days: days.value || "7" });
    try {
      const r = await api(`/segments/${segmentId}/analytics/before-after?${params}`);
      const change = r.change === null ? "" : ` (${r.change >= 0 ? "+" : ""}${r.change.toFixed(1)})`;
      result.className = "";
      result.textContent = `${fmtNumber(r.members)} current members: average score ${fmt(r.avg_before)} then, ${fmt(r.avg_after)} ${r.after_days} days later${change}`;
    } catch (error) {
      result.className = "error";
      result.textContent = error.message;
    }
  }
  return el("form", { class: "card", id: "before-after", onsubmit: compare },
    el("h3", {}, "Score before and after a date"),
    el("div", { class: "grid two" },
      el("div", { class: "stacked" }, el("label", { for: "before-after-at" }, "Date"), at),
      el("div", { class: "stacked" }, el("label", { for: "before-after-days" }, "Days after"), days)),
    el("button", { type: "submit" }, "Compare"),
    result);
}

function renderAnalytics(box, a) {
  const pct = a.conversion_rate === null ? "–" : `${(a.conversion_rate * 100).toFixed(1)}%`;
  const score = a.avg_engagement_score === null ? "–" : a.avg_engagement_score.toFixed(1);
  clear(box,
    el("dl", { class: "stats" },
      el("div", {}, el("dt", {}, "Members"), el("dd", {}, fmtNumber(a.member_count))),
      el("div", {}, el("dt", {}, "Average score"), el("dd", {}, score)),
      el("div", {}, el("dt", {}, `Converted (${a.converted_status})`), el("dd", {}, `${fmtNumber(a.converted_count)} · ${pct}`))),
    el("div", { class: "grid two" },
      el("figure", { class: "card" }, el("figcaption", {}, "Members and average score"),
        lineChart(a.daily, [{ key: "member_count", label: "Members" }, { key: "avg_score_then", label: "Average score (as it was then)", second: true }])),
      el("figure", { class: "card" }, el("figcaption", {}, "Entered and exited per day"),
        barChart(a.daily))),
    el("h3", {}, "Top events among members"),
    a.top_events.length
      ? el("div", { class: "table-wrap" }, el("table", {},
          el("thead", {}, el("tr", {}, el("th", {}, "Event"), el("th", { class: "num" }, "Events"), el("th", { class: "num" }, "Members"))),
          el("tbody", {}, a.top_events.map((t) => el("tr", {}, el("td", {}, t.type), el("td", { class: "num" }, fmtNumber(t.count)), el("td", { class: "num" }, fmtNumber(t.members)))))))
      : el("p", { class: "muted" }, "No events among members in this window."));
}

if (document.body.dataset.page === "segments") segmentsList();
if (document.body.dataset.page === "segment") segmentDetail();
