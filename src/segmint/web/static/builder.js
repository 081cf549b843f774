// The filter builder: nested AND/OR groups with NOT, conditions on every registered field,
// event conditions, sequences of events, segment and list references. It edits a tree in the API's filter JSON and
// reports each change; errors from the API (with a JSON path) are shown at the offending row.
"use strict";

const PERIOD_LABELS = {
  today: "Today", yesterday: "Yesterday", this_week: "This week", last_week: "Last week",
  this_month: "This month", last_month: "Last month", this_year: "This year",
};

// -- the model: JSON in, JSON out -------------------------------------------------------------
function fromJson(data) {
  if (!data || typeof data !== "object") return newGroup("and");
  if (data.not) {
    const inner = fromJson(data.not);
    inner.negated = !inner.negated;
    return inner;
  }
  if (Array.isArray(data.and) || Array.isArray(data.or)) {
    const kind = data.and ? "and" : "or";
    return { kind, negated: false, children: (data[kind] || []).map(fromJson) };
  }
  if (Array.isArray(data.sequence)) {
    const asStep = (step) => ({ event: step.event, where: step.where ? asGroup(fromJson(step.where)) : newGroup("and") });
    return { kind: "sequence", negated: false, within_days: data.within_days ?? null, since_days: data.since_days ?? null,
      steps: data.sequence.map(asStep), not_between: data.not_between ? asStep(data.not_between) : null };
  }
  if ("event" in data) {
    return { kind: "event", negated: false, event: data.event, performed: data.performed !== false,
      min_count: data.min_count ?? 1, max_count: data.max_count ?? null, within_days: data.within_days ?? null,
      older_than_days: data.older_than_days ?? null, min_distinct_days: data.min_distinct_days ?? null,
      aggregate: data.aggregate ? { ...data.aggregate } : null,
      where: data.where ? asGroup(fromJson(data.where)) : null };
  }
  if ("leads" in data) {
    return { kind: "leads", negated: false, min_count: data.min_count ?? 1, max_count: data.max_count ?? null,
      where: asGroup(fromJson(data.leads)) };
  }
  if ("in_account_segment" in data) return { kind: "account_segment", negated: false, id: data.in_account_segment };
  if ("distinct_events" in data) {
    return { kind: "distinct", negated: false, count: data.distinct_events,
      within_days: data.within_days ?? null, types: data.types ? [...data.types] : [] };
  }
  if ("in_segment" in data) {
    // time in segment: at most one of the two options (the API refuses both)
    const timing = SEGMENT_TIMINGS.find((key) => key in data) || null;
    return { kind: "segment", negated: false, id: data.in_segment, timing, days: timing ? data[timing] : 14 };
  }
  if ("bucket" in data) {
    return { kind: "bucket", negated: false, low: data.bucket[0], high: data.bucket[1], salt: data.salt ?? "" };
  }
  if ("in_list" in data) return { kind: "list", negated: false, id: data.in_list };
  return { kind: "condition", negated: false, field: data.field, op: data.op, value: data.value };
}
const SEGMENT_TIMINGS = ["for_at_least_days", "entered_within_days"];
const EVENT_PREFIX = "event:";  // a field picker's Events entries: "event:page_view"
const newEvent = (type) => ({ kind: "event", negated: false, event: type, performed: true, min_count: 1,
  max_count: null, within_days: 30, where: null });
const newDistinct = () => ({ kind: "distinct", negated: false, count: 2, within_days: 30, types: [] });
const blank = (value) => value === null || value === undefined || value === "";
const newSequence = (types) => ({ kind: "sequence", negated: false, within_days: 7, since_days: null, not_between: null,
  steps: [0, 1].map((i) => ({ event: types[i] || types[0] || "", where: newGroup("and") })) });
const SEQUENCE_STEPS = { least: 2, most: 5 };  // contract §3b
const asGroup = (node) => (node.kind === "and" || node.kind === "or" ? node : { kind: "and", negated: false, children: [node] });
const newGroup = (kind) => ({ kind, negated: false, children: [] });
// An account segment's row over the account's leads: "at least N leads matching ...".
const newLeads = () => ({ kind: "leads", negated: false, min_count: 1, max_count: null, where: newGroup("and") });

// JSON of a node; `paths` collects each node's JSON path, so an error path finds its row.
function toJson(node, path, paths) {
  const inner = node.negated ? `${path}.not` : path;
  paths?.set(inner, node);
  let data;
  if (node.kind === "and" || node.kind === "or") {
    data = { [node.kind]: node.children.map((c, i) => toJson(c, `${inner}.${node.kind}[${i}]`, paths)) };
  } else if (node.kind === "event") {
    data = { event: node.event };
    if (!node.performed) data.performed = false;
    if (node.min_count !== 1) data.min_count = node.min_count;
    if (node.max_count !== null && node.max_count !== "") data.max_count = node.max_count;
    if (node.within_days !== null && node.within_days !== "") data.within_days = node.within_days;
    if (!blank(node.older_than_days)) data.older_than_days = node.older_than_days;
    if (!blank(node.min_distinct_days)) data.min_distinct_days = node.min_distinct_days;
    if (node.aggregate) data.aggregate = { ...node.aggregate };
    if (node.where && node.where.children.length) data.where = toJson(node.where, `${inner}.where`, paths);
  } else if (node.kind === "leads") {
    data = { leads: toJson(node.where, `${inner}.leads`, paths) };
    if (node.min_count !== 1) data.min_count = node.min_count;
    if (node.max_count !== null && node.max_count !== "") data.max_count = node.max_count;
  } else if (node.kind === "account_segment") {
    data = { in_account_segment: node.id };
  } else if (node.kind === "distinct") {
    data = { distinct_events: node.count };
    if (!blank(node.within_days)) data.within_days = node.within_days;
    if (node.types.length) data.types = [...node.types];
  } else if (node.kind === "sequence") {
    data = { sequence: node.steps.map((step, i) => {
      const item = { event: step.event };
      if (step.where.children.length) item.where = toJson(step.where, `${inner}.sequence[${i}].where`, paths);
      return item;
    }) };
    if (node.within_days !== null && node.within_days !== "") data.within_days = node.within_days;
    if (node.since_days !== null && node.since_days !== "") data.since_days = node.since_days;
    if (node.not_between) {  // "... without X in between": a step's shape
      const excluded = node.not_between;
      data.not_between = { event: excluded.event };
      if (excluded.where.children.length) data.not_between.where = toJson(excluded.where, `${inner}.not_between.where`, paths);
    }
  } else if (node.kind === "segment") {
    data = { in_segment: node.id };
    if (node.timing) data[node.timing] = node.days;
  } else if (node.kind === "bucket") {
    data = { bucket: [node.low, node.high] };
    if (node.salt) data.salt = node.salt;
  } else if (node.kind === "list") {
    data = { in_list: node.id };
  } else {
    data = { field: node.field, op: node.op };
    if (node.value !== undefined && node.value !== null) data.value = node.value;
  }
  return node.negated ? { not: data } : data;
}

// -- value inputs, by operator shape and field type ---------------------------------------------
function typedValue(type, raw) {
  if (raw === "") return raw;
  if (type === "number") return Number(raw);
  if (type === "boolean") return raw === "true";
  if (type === "datetime") return raw.length === 16 ? `${raw}:00` : raw;
  if (type === "json") {
    if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
    if (raw === "true" || raw === "false") return raw === "true";
  }
  return raw;
}
const splitList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

// -- pickers: searchable, offering what the data holds ----------------------------------------
// Tom Select (vendored, web/static/vendor/) turns a plain <select> or <input> into a combobox
// with typeahead and chips. The plain element stays in the page, hidden, holding the value:
// the builder reads it as it always did, and the page still works if the library is missing.
const PICKED = new Set(["text", "select", "tags", "json"]);
const VALUES_SEPARATOR = "\u001f";  // between a picker's chosen values: never typed by anyone

// Rows are built detached and mounted whole; Tom Select needs its element in the page, so
// each is enhanced once the builder has drawn (`enhancePending`).
const pendingPickers = [];

function enhance(element, settings) {
  if (typeof TomSelect !== "undefined") pendingPickers.push([element, settings]);
  return element;
}

function enhancePending() {
  for (const [element, settings] of pendingPickers.splice(0)) {
    if (!element.isConnected) continue;
    new TomSelect(element, { maxOptions: 200, closeAfterSelect: settings.maxItems === 1, ...settings });
    // The combobox now carries the label: the hidden element leaves the accessibility tree.
    element.removeAttribute("aria-label");
    element.setAttribute("aria-hidden", "true");
  }
}

// An option with how many leads (or events) hold it, as the data says.
function optionWithCount(item, escape) {
  const count = item.count === undefined ? "" : `<span class="ts-count">${escape(fmtNumber(item.count))}</span>`;
  return `<div class="ts-value"><span>${escape(item.text)}</span>${count}</div>`;
}

const pickerTexts = {
  option: optionWithCount,
  item: (item, escape) => `<div>${escape(item.text)}</div>`,
  option_create: (data, escape) => `<div class="create">Use “${escape(data.input)}”</div>`,
  no_results: () => "<div class=\"no-results\">Nothing in the data matches: type a value and press Enter</div>",
};

// Values of a field from /filters/values (or event metadata), for a picker's `load`; the
// parameters are read when it loads (an event's type may change after the row is drawn).
function loaderFor(params) {
  return (query, callback) => {
    const search = new URLSearchParams({ ...params(), q: query });
    api(`/filters/values?${search}`)
      .then((r) => callback(r.items.map((i) => ({ value: String(i.value), text: String(i.value), count: i.count }))))
      .catch(() => callback());
  };
}

// A value picker: typeahead over the values the data holds (with counts), any other value
// typed in, chips when several may be chosen. `onValues` gets the chosen texts.
function valuePicker({ label, chosen, options, multiple, load, onValues }) {
  const known = [...new Set([...options, ...chosen])];
  const select = el("select", { "aria-label": label, multiple },
    multiple ? null : el("option", { value: "" }, "Choose…"),
    known.map((o) => el("option", { value: o, selected: chosen.includes(o) }, o)));
  const read = () => [...select.selectedOptions].map((o) => o.value).filter((v) => v !== "");
  select.addEventListener("change", () => onValues(read()));
  enhance(select, {
    create: true, persist: false, maxItems: multiple ? null : 1, plugins: multiple ? ["remove_button"] : [],
    preload: "focus", load, render: pickerTexts,
  });
  return select;
}

function scalarInput(field, value, onValue, label, load) {
  const type = field.type;
  const common = { "aria-label": label };
  if (load && PICKED.has(type)) {
    const chosen = value === undefined || value === null || value === "" ? [] : [String(value)];
    return valuePicker({ label, chosen, options: field.options || [], multiple: false, load,
      onValues: (values) => onValue(values.length ? typedValue(type, values[0]) : "") });
  }
  if (type === "boolean") {
    const select = el("select", common, ["true", "false"].map((v) => el("option", { value: v, selected: String(value) === v }, v === "true" ? "Yes" : "No")));
    if (value === undefined || value === null) onValue(true, true);
    select.addEventListener("change", () => onValue(select.value === "true"));
    return select;
  }
  const kinds = { number: "number", datetime: "datetime-local", date: "date" };
  const shown = type === "datetime" && value ? String(value).slice(0, 16) : (value ?? "");
  const input = el("input", { ...common, type: kinds[type] || "text", value: shown, step: type === "number" ? "any" : null });
  input.addEventListener("input", () => onValue(typedValue(type, input.value)));
  return input;
}

function valueEditor(field, op, node, changed, load) {
  const set = (value, quiet) => { node.value = value; if (!quiet) changed(); };
  const label = `Value for ${field.label}`;
  const many = ["list", "strings", "text_or_list"].includes(op.shape);
  if (load && many && PICKED.has(field.type)) {
    // Chips: one value is a text (text_or_list), several a list.
    const chosen = (Array.isArray(node.value) ? node.value : node.value ? [node.value] : []).map(String);
    return valuePicker({ label, chosen, options: field.options || [], multiple: true, load,
      onValues: (values) => set(op.shape === "text_or_list" && values.length === 1
        ? values[0] : values.map((v) => (op.shape === "list" ? typedValue(field.type, v) : v))) });
  }
  switch (op.shape) {
    case "none":
      node.value = undefined;
      return null;
    case "scalar":
      return scalarInput(field, node.value, set, label, load);
    case "list":
    case "strings":
    case "text_or_list": {
      const shown = Array.isArray(node.value) ? node.value.join(", ") : (node.value ?? "");
      const input = el("input", { type: "text", value: shown, "aria-label": label, placeholder: "a, b, c" });
      input.addEventListener("input", () => {
        const items = splitList(input.value);
        if (op.shape === "text_or_list") set(items.length > 1 ? items : input.value.trim());
        else set(items.map((v) => typedValue(field.type, v)));
      });
      return input;
    }
    case "pair": {
      const pair = Array.isArray(node.value) ? [...node.value] : ["", ""];
      const both = (i) => (v) => { pair[i] = v; set([...pair]); };
      return el("span", { class: "value" },
        scalarInput(field, pair[0], both(0), `${label} (from)`, null), "and",
        scalarInput(field, pair[1], both(1), `${label} (to)`, null));
    }
    case "days": {
      const input = el("input", { type: "number", min: 0, value: node.value ?? "", "aria-label": `${label} in days`, style: "width:6rem" });
      input.addEventListener("input", () => set(input.value === "" ? "" : Number(input.value)));
      return el("span", { class: "value" }, input, "days");
    }
    case "period": {
      const select = el("select", { "aria-label": label },
        Object.entries(PERIOD_LABELS).map(([k, v]) => el("option", { value: k, selected: node.value === k }, v)));
      if (!node.value) node.value = "today";
      select.addEventListener("change", () => set(select.value));
      return select;
    }
    default:
      return null;
  }
}

// -- the builder ---------------------------------------------------------------------------------
// `audience` "accounts": an account segment's filter, over account fields, with rows over the
// account's leads (whose own conditions are lead conditions again).
function createBuilder({ mount, vocabulary, initial, onChange, audience = "leads" }) {
  const fields = new Map();
  vocabulary.groups.forEach((g) => g.fields.forEach((f) => fields.set(f.name, f)));
  const accountGroups = vocabulary.account_groups || [];
  const accountFields = new Map();
  accountGroups.forEach((g) => g.fields.forEach((f) => accountFields.set(f.name, f)));
  const fieldsOf = (scope) => (scope === "accounts" ? accountFields : fields);
  const groupsOf = (scope) => (scope === "accounts" ? accountGroups : vocabulary.groups);
  let root = asGroup(fromJson(initial));
  const rows = new Map();  // node -> its row element (for errors)

  const changed = () => onChange(api_.filter());
  // A redraw replaces every row: the control that had focus gets it back in its redrawn row
  // (found by the row's JSON path and the control's label), so keyboard users keep their place.
  const redraw = () => {
    const place = focusedPlace();
    render();
    restoreFocus(place);
    changed();
  };

  function focusedPlace() {
    const focused = document.activeElement;
    if (!focused || !mount.contains(focused)) return null;
    const label = focused.getAttribute("aria-label") || focused.textContent.trim();
    const paths = new Map();
    toJson(root, "filter", paths);
    for (const [path, node] of paths) {
      const row = rows.get(node);
      if (row && row.contains(focused) && ![...row.querySelectorAll(".rule, .group")].some((inner) => inner.contains(focused))) {
        return { path, label, tag: focused.tagName };
      }
    }
    return { path: null, label, tag: focused.tagName };
  }

  function restoreFocus(place) {
    if (!place) return;
    const paths = new Map();
    toJson(root, "filter", paths);
    const row = (place.path && rows.get(paths.get(place.path))) || mount;
    const same = [...row.querySelectorAll("input, select, button")].find((control) =>
      (control.getAttribute("aria-label") || control.textContent.trim()) === place.label && control.tagName === place.tag);
    const next = same || row.querySelector("[role=combobox], input, select, button");
    // A picker opens on focus; given back its focus, it stays closed until used.
    const picker = next?.closest(".ts-wrapper")?.previousElementSibling?.tomselect;
    if (picker) picker.settings.openOnFocus = false;
    next?.focus();
    if (picker) picker.settings.openOnFocus = true;
  }

  // The field picker: searchable, grouped as users look for a field; its Events group turns
  // the row into an event condition on that type.
  function fieldSelect(node, parent, inEvent, scope) {
    if (inEvent) return metadataKeyPicker(node, inEvent);
    const select = el("select", { "aria-label": "Field" },
      groupsOf(scope).map((g) => el("optgroup", { label: g.name },
        g.fields.map((f) => el("option", { value: f.name, selected: f.name === node.field }, f.label)))),
      scope === "leads" && vocabulary.event_types.length ? el("optgroup", { label: "Events" },
        vocabulary.event_types.map((t) => el("option", { value: `${EVENT_PREFIX}${t}` }, `Did ${t}`))) : null);
    select.addEventListener("change", () => {
      if (select.value.startsWith(EVENT_PREFIX)) {
        parent.children[parent.children.indexOf(node)] = newEvent(select.value.slice(EVENT_PREFIX.length));
        redraw();
        return;
      }
      node.field = select.value;
      const field = fieldsOf(scope).get(node.field);
      if (!field.operators.some((o) => o.key === node.op)) node.op = field.operators[0].key;
      node.value = undefined;
      redraw();
    });
    return enhance(select, { maxItems: 1, searchField: ["text", "optgroup"], lockOptgroupOrder: true });
  }

  // Inside an event's `where`: a key of its metadata, offered from the events of that type.
  function metadataKeyPicker(node, event) {
    const select = el("select", { "aria-label": "Event metadata key" },
      el("option", { value: "" }, "metadata key, e.g. path"),
      node.field ? el("option", { value: node.field, selected: true }, node.field) : null);
    select.addEventListener("change", () => { node.field = select.value.trim(); node.value = undefined; redraw(); });
    return enhance(select, { create: true, persist: false, maxItems: 1, preload: "focus", render: pickerTexts,
      load: (query, callback) => api(`/filters/paths?${new URLSearchParams({ root: "metadata", event: event.event })}`)
        .then((r) => callback(r.items.map((p) => ({ value: p.name, text: p.name }))))
        .catch(() => callback()) });
  }

  // A field's values for its value picker: lead and account fields from the leads, event
  // metadata from the events of the row's type.
  function valuesOf(node, inEvent, scope) {
    // An account field's values, as the leads' `account.*` fields see them.
    if (scope === "accounts") return loaderFor(() => ({ field: `account.${node.field}` }));
    if (!inEvent) return loaderFor(() => ({ field: node.field }));
    return node.field ? loaderFor(() => ({ field: node.field, event: inEvent.event })) : null;
  }

  // Where a row shows how many leads it matches on its own (filled by showCounts).
  const rowCount = () => el("span", { class: "row-count muted", title: "Leads this condition matches on its own" });

  function removeButton(parent, node, what) {
    return el("button", { type: "button", class: "link", "aria-label": `Remove ${what}`, onclick: () => {
      parent.children.splice(parent.children.indexOf(node), 1);
      redraw();
    } }, "Remove");
  }

  function notToggle(node, what) {
    const box = el("input", { type: "checkbox", checked: node.negated });
    box.addEventListener("change", () => { node.negated = box.checked; changed(); });
    return el("label", { title: `Match leads that do not meet this ${what}` }, box, " NOT");
  }

  function conditionRow(node, parent, inEvent, scope) {
    const field = inEvent
      ? { name: node.field, label: node.field || "metadata", type: "json", options: [], operators: vocabulary.event_operators }
      : fieldsOf(scope).get(node.field) || { name: node.field, label: node.field, type: "json", options: [], operators: vocabulary.event_operators };
    const op = field.operators.find((o) => o.key === node.op) || field.operators[0];
    node.op = op.key;
    const opSelect = el("select", { "aria-label": "Operator" },
      field.operators.map((o) => el("option", { value: o.key, selected: o.key === op.key }, o.label)));
    opSelect.addEventListener("change", () => {
      const next = field.operators.find((o) => o.key === opSelect.value);
      if (next.shape !== op.shape) node.value = undefined;
      node.op = next.key;
      redraw();
    });
    const row = el("div", { class: "rule", role: "group", "aria-label": "Condition" },
      notToggle(node, "condition"), fieldSelect(node, parent, inEvent, scope), opSelect,
      valueEditor(field, op, node, changed, valuesOf(node, inEvent, scope)), inEvent || audience === "accounts" ? null : rowCount(),
      removeButton(parent, node, "condition"));
    rows.set(node, row);
    return row;
  }

  function eventRow(node, parent) {
    const typeInput = el("select", { "aria-label": "Event type" },
      [...new Set([node.event, ...vocabulary.event_types].filter(Boolean))].map((t) =>
        el("option", { value: t, selected: t === node.event }, t)));
    typeInput.addEventListener("change", () => { node.event = typeInput.value.trim(); changed(); });
    enhance(typeInput, { create: true, persist: false, maxItems: 1, preload: "focus", render: pickerTexts,
      load: (query, callback) => api(`/filters/event-types?${new URLSearchParams({ q: query })}`)
        .then((r) => callback(r.items.map((i) => ({ value: i.value, text: i.value, count: i.count }))))
        .catch(() => callback()) });
    const performed = el("select", { "aria-label": "Did or did not" },
      el("option", { value: "yes", selected: node.performed }, "did"),
      el("option", { value: "no", selected: !node.performed }, "did not do"));
    performed.addEventListener("change", () => { node.performed = performed.value === "yes"; changed(); });
    const number = (key, label, width = "5rem") => {
      const input = el("input", { type: "number", min: 0, value: node[key] ?? "", "aria-label": label, style: `width:${width}` });
      input.addEventListener("input", () => { node[key] = input.value === "" ? (key === "min_count" ? 1 : null) : Number(input.value); changed(); });
      return input;
    };
    const where = node.where || newGroup("and");
    node.where = where;
    const addWhere = el("button", { type: "button", onclick: () => {
      where.children.push({ kind: "condition", negated: false, field: "", op: vocabulary.event_operators[0].key });
      redraw();
    } }, "+ Where");
    const row = el("div", { class: "rule", role: "group", "aria-label": "Event condition" },
      notToggle(node, "event condition"), "Lead", performed, typeInput,
      // Each run of words is one flex item: two items side by side read (and copy) as one
      // word, "times,at most".
      "at least", number("min_count", "At least how many times"), "times, at most",
      number("max_count", "At most how many times (blank: no limit)"),
      "in the last", number("within_days", "Within the last days (blank: ever)"), "days",
      eventOptions(node, number),
      addWhere, rowCount(), removeButton(parent, node, "event condition"),
      where.children.length ? el("div", { style: "flex-basis:100%" }, groupBox(where, null, node, "leads")) : null);
    rows.set(node, row);
    return row;
  }

  // The options over time (contract 3b), folded away until used: "but not in the last N
  // days" (older_than_days), distinct days, and an aggregate of a metadata number.
  function eventOptions(node, number) {
    const aggregate = node.aggregate || { fn: "", path: "", op: "gte", value: "" };
    const fn = el("select", { "aria-label": "Aggregate" },
      [["", "no total"], ["sum", "sum"], ["avg", "average"], ["min", "minimum"], ["max", "maximum"]]
        .map(([value, text]) => el("option", { value, selected: value === aggregate.fn }, text)));
    const path = el("input", { type: "text", value: aggregate.path, placeholder: "amount",
      "aria-label": "Metadata path to aggregate", style: "width:7rem" });
    const op = el("select", { "aria-label": "Aggregate comparison" },
      [["eq", "="], ["neq", "≠"], ["gt", ">"], ["gte", "≥"], ["lt", "<"], ["lte", "≤"], ["between", "between"]]
        .map(([value, text]) => el("option", { value, selected: value === aggregate.op }, text)));
    const pair = Array.isArray(aggregate.value) ? aggregate.value : [aggregate.value, ""];
    const low = el("input", { type: "number", value: pair[0] ?? "", "aria-label": "Aggregate value", style: "width:6rem" });
    const high = el("input", { type: "number", value: pair[1] ?? "", "aria-label": "Aggregate upper value",
      style: "width:6rem", hidden: aggregate.op !== "between" });
    const sync = () => {
      high.hidden = op.value !== "between";
      const number = (input) => (input.value === "" ? null : Number(input.value));
      node.aggregate = fn.value ? { fn: fn.value, path: path.value.trim(), op: op.value,
        value: op.value === "between" ? [number(low), number(high)] : number(low) } : null;
      changed();
    };
    [fn, op].forEach((input) => input.addEventListener("change", sync));
    [path, low, high].forEach((input) => input.addEventListener("input", sync));
    const used = !blank(node.older_than_days) || !blank(node.min_distinct_days) || node.aggregate;
    return el("details", { class: "event-options", open: Boolean(used) },
      el("summary", {}, "over time"),
      el("span", { class: "event-options-body" },
        // Each run of words is one string: adjacent text nodes would read as one word.
        "but not in the last", number("older_than_days", "Not in the last days (older than)"),
        "days, on at least", number("min_distinct_days", "On at least how many distinct days"),
        "distinct days, with", fn, "of", path, op, low, high));
  }

  function distinctRow(node, parent) {
    const types = el("input", { type: "text", value: node.types.join(", "), placeholder: "any type",
      "aria-label": "Event types (comma separated; blank: any)", style: "width:14rem" });
    types.addEventListener("input", () => {
      node.types = types.value.split(",").map((t) => t.trim()).filter(Boolean);
      changed();
    });
    const number = (key, label) => {
      const input = el("input", { type: "number", min: 1, value: node[key] ?? "", "aria-label": label, style: "width:5rem" });
      input.addEventListener("input", () => { node[key] = input.value === "" ? null : Number(input.value); changed(); });
      return input;
    };
    const row = el("div", { class: "rule", role: "group", "aria-label": "Distinct event types" },
      notToggle(node, "distinct event types"), "Lead did at least", number("count", "How many distinct event types"),
      "distinct event types of", types, "in the last", number("within_days", "Within the last days (blank: ever)"), "days",
      rowCount(), removeButton(parent, node, "distinct event types"));
    rows.set(node, row);
    return row;
  }

  // A sequence: its steps in order, each an event type with its own where, then the windows.
  function sequenceRow(node, parent) {
    const days = (key, label) => {
      const input = el("input", { type: "number", min: 1, value: node[key] ?? "", "aria-label": label, style: "width:5rem" });
      input.addEventListener("input", () => { node[key] = input.value === "" ? null : Number(input.value); changed(); });
      return input;
    };
    // A step's (or the excluded event's) type picker, its "+ Where" and its where.
    const typePicker = (step, label) => {
      const typeInput = el("select", { "aria-label": label },
        [...new Set([step.event, ...vocabulary.event_types].filter(Boolean))].map((t) =>
          el("option", { value: t, selected: t === step.event }, t)));
      typeInput.addEventListener("change", () => { step.event = typeInput.value.trim(); changed(); });
      enhance(typeInput, { create: true, persist: false, maxItems: 1, preload: "focus", render: pickerTexts,
        load: (query, callback) => api(`/filters/event-types?${new URLSearchParams({ q: query })}`)
          .then((r) => callback(r.items.map((item) => ({ value: item.value, text: item.value, count: item.count }))))
          .catch(() => callback()) });
      return typeInput;
    };
    const whereButton = (step) => el("button", { type: "button", onclick: () => {
      step.where.children.push({ kind: "condition", negated: false, field: "", op: vocabulary.event_operators[0].key });
      redraw();
    } }, "+ Where");
    const whereBox = (step) => (step.where.children.length
      ? el("div", { style: "flex-basis:100%" }, groupBox(step.where, null, step, "leads")) : null);
    const stepBox = (step, i) => {
      const typeInput = typePicker(step, `Step ${i + 1} event type`);
      const addWhere = whereButton(step);
      const removeStep = node.steps.length > SEQUENCE_STEPS.least
        ? el("button", { type: "button", class: "link", "aria-label": `Remove step ${i + 1}`, onclick: () => { node.steps.splice(i, 1); redraw(); } }, "Remove step")
        : null;
      return el("div", { class: "rule", role: "group", "aria-label": `Step ${i + 1}` },
        i ? "then" : "first", typeInput, addWhere, removeStep, whereBox(step));
    };
    // "... without X in between": no event of that type (and where) after the first step and
    // before the last (JSON not_between).
    const excludedBox = () => {
      const excluded = node.not_between;
      if (!excluded) {
        return el("button", { type: "button", onclick: () => {
          node.not_between = { event: vocabulary.event_types[0] || "", where: newGroup("and") };
          redraw();
        } }, "+ Without an event in between");
      }
      const remove = el("button", { type: "button", class: "link", "aria-label": "Remove the event not in between",
        onclick: () => { node.not_between = null; redraw(); } }, "Remove");
      return el("div", { class: "rule", role: "group", "aria-label": "Not in between", style: "flex-basis:100%" },
        "without", typePicker(excluded, "Event type not in between"), whereButton(excluded),
        "in between (after the first step, before the last)", remove, whereBox(excluded));
    };
    const addStep = el("button", { type: "button", disabled: node.steps.length >= SEQUENCE_STEPS.most, onclick: () => {
      node.steps.push({ event: vocabulary.event_types[0] || "", where: newGroup("and") });
      redraw();
    } }, "+ Step");
    const row = el("div", { class: "rule", role: "group", "aria-label": "Sequence" },
      notToggle(node, "sequence"), "Lead did, in this order:", rowCount(), removeButton(parent, node, "sequence"),
      el("div", { style: "flex-basis:100%" }, node.steps.map(stepBox)),
      addStep, "last step at most", days("within_days", "Last step within days of the first (blank: any time)"),
      "days after the first, first step in the last", days("since_days", "First step within the last days (blank: ever)"), "days",
      excludedBox());
    rows.set(node, row);
    return row;
  }

  function referenceRow(node, parent, scope) {
    // An account filter's `in_segment`, like a lead's `in_account_segment`, names an account segment.
    const ofAccounts = node.kind === "account_segment" || (node.kind === "segment" && scope === "accounts");
    const options = ofAccounts ? (vocabulary.account_segments || []) : node.kind === "segment" ? vocabulary.segments : vocabulary.lists;
    const label = node.kind === "account_segment" ? "Account segment" : node.kind === "segment" ? "Segment" : "List";
    const select = el("select", { "aria-label": label },
      options.map((o) => el("option", { value: o.id, selected: o.id === node.id }, o.name)));
    if (node.id === undefined && options.length) node.id = options[0].id;
    select.addEventListener("change", () => { node.id = Number(select.value); changed(); });
    const words = node.kind === "account_segment" ? "account is in account segment"
      : node.kind === "segment" ? "is in segment" : "is in list";
    const row = el("div", { class: "rule", role: "group", "aria-label": "Reference" },
      notToggle(node, "reference"), words, select,
      node.kind === "segment" && scope !== "accounts" ? segmentTiming(node) : null,
      audience === "accounts" ? null : rowCount(), removeButton(parent, node, "reference"));
    rows.set(node, row);
    return row;
  }

  // Time in segment: "(now)", "for at least N days", "entered within N days".
  function segmentTiming(node) {
    const timing = el("select", { "aria-label": "Time in segment" },
      el("option", { value: "", selected: !node.timing }, "now"),
      el("option", { value: "for_at_least_days", selected: node.timing === "for_at_least_days" }, "for at least"),
      el("option", { value: "entered_within_days", selected: node.timing === "entered_within_days" }, "entered within the last"));
    const days = el("input", { type: "number", min: 0, value: node.days ?? "", "aria-label": "Days in segment",
      style: "width:5rem", hidden: !node.timing });
    timing.addEventListener("change", () => {
      node.timing = timing.value || null;
      if (node.timing && (node.days === null || node.days === undefined)) node.days = 14;
      redraw();
    });
    days.addEventListener("input", () => { node.days = days.value === "" ? null : Number(days.value); changed(); });
    return [timing, days, node.timing ? "days" : null];
  }

  // A random split: the lead's bucket (0-99, a hash of the salt and its id) in [from, to).
  function bucketRow(node, parent) {
    const number = (key, label) => {
      const input = el("input", { type: "number", min: 0, max: 100, step: 1, value: node[key], "aria-label": label, style: "width:4.5rem" });
      input.addEventListener("input", () => { node[key] = input.value === "" ? null : Number(input.value); changed(); });
      return input;
    };
    const salt = el("input", { type: "text", value: node.salt, placeholder: "(none)", "aria-label": "Split salt", style: "width:9rem" });
    salt.addEventListener("input", () => { node.salt = salt.value; changed(); });
    const row = el("div", { class: "rule", role: "group", "aria-label": "Random split" },
      notToggle(node, "random split"), "random bucket from", number("low", "Bucket from (included)"),
      "to", number("high", "Bucket to (not included)"), "of 100, salt", salt,
      rowCount(), removeButton(parent, node, "random split"));
    rows.set(node, row);
    return row;
  }

  // "Account has at least N leads (at most M) matching" a group of lead conditions.
  function leadsRow(node, parent) {
    const number = (key, label) => {
      const input = el("input", { type: "number", min: 0, value: node[key] ?? "", "aria-label": label, style: "width:5rem" });
      input.addEventListener("input", () => { node[key] = input.value === "" ? (key === "min_count" ? 1 : null) : Number(input.value); changed(); });
      return input;
    };
    const row = el("div", { class: "rule", role: "group", "aria-label": "Leads condition" },
      notToggle(node, "leads condition"), "Account has at least", number("min_count", "At least how many leads"),
      "leads, at most", number("max_count", "At most how many leads (blank: no limit)"), "leads, matching",
      removeButton(parent, node, "leads condition"),
      el("div", { style: "flex-basis:100%" }, groupBox(node.where, null, false, "leads")));
    rows.set(node, row);
    return row;
  }

  function groupBox(group, parent, inEvent = false, scope = audience) {
    const mode = el("select", { "aria-label": "Match" },
      el("option", { value: "and", selected: group.kind === "and" }, "Match ALL (AND)"),
      el("option", { value: "or", selected: group.kind === "or" }, "Match ANY (OR)"));
    mode.addEventListener("change", () => { group.kind = mode.value; changed(); });
    const firstField = scope === "accounts"
      ? accountFields.get("name") || accountGroups[0].fields[0]
      : fields.get("status") || vocabulary.groups[0].fields[0];
    const add = (node) => () => { group.children.push(node()); redraw(); };
    const accountSegments = vocabulary.account_segments || [];
    const buttons = [
      el("button", { type: "button", onclick: add(() => (inEvent
        ? { kind: "condition", negated: false, field: "", op: vocabulary.event_operators[0].key }
        : { kind: "condition", negated: false, field: firstField.name, op: firstField.operators[0].key })) }, "+ Condition"),
    ];
    if (scope === "accounts") {
      buttons.push(
        el("button", { type: "button", onclick: add(newLeads) }, "+ Leads matching"),
        el("button", { type: "button", disabled: !accountSegments.length, onclick: add(() => ({ kind: "segment", negated: false, id: accountSegments[0]?.id })) }, "+ Segment"));
    } else if (!inEvent) {
      buttons.push(
        el("button", { type: "button", onclick: add(() => newEvent(vocabulary.event_types[0] || "")) }, "+ Event"),
        el("button", { type: "button", onclick: add(newDistinct) }, "+ Event types"),
        el("button", { type: "button", onclick: add(() => newSequence(vocabulary.event_types)) }, "+ Sequence"),
        el("button", { type: "button", disabled: !vocabulary.segments.length, onclick: add(() => ({ kind: "segment", negated: false, id: vocabulary.segments[0]?.id })) }, "+ Segment"),
        el("button", { type: "button", disabled: !vocabulary.lists.length, onclick: add(() => ({ kind: "list", negated: false, id: vocabulary.lists[0]?.id })) }, "+ List"),
        el("button", { type: "button", title: "A random split: each lead's bucket 0-99 is fixed by its id and the salt",
          onclick: add(() => ({ kind: "bucket", negated: false, low: 0, high: 50, salt: "" })) }, "+ Split"));
      if (accountSegments.length) {
        buttons.push(el("button", { type: "button", onclick: add(() => ({ kind: "account_segment", negated: false, id: accountSegments[0].id })) }, "+ Account segment"));
      }
    }
    buttons.push(el("button", { type: "button", onclick: add(() => newGroup(group.kind === "and" ? "or" : "and")) }, "+ Group"));
    const head = el("div", { class: "group-head" }, notToggle(group, "group"), mode, el("span", { class: "spacer" }), buttons,
      parent ? removeButton(parent, group, "group") : null);
    const children = group.children.map((child) => {
      if (child.kind === "and" || child.kind === "or") return groupBox(child, group, inEvent, scope);
      if (child.kind === "event") return eventRow(child, group);
      if (child.kind === "leads") return leadsRow(child, group);
      if (child.kind === "distinct") return distinctRow(child, group);
      if (child.kind === "sequence") return sequenceRow(child, group);
      if (child.kind === "bucket") return bucketRow(child, group);
      if (["segment", "list", "account_segment"].includes(child.kind)) return referenceRow(child, group, scope);
      return conditionRow(child, group, inEvent, scope);
    });
    const nothing = inEvent ? "Add a condition on the event's metadata."
      : `No conditions yet: every ${scope === "accounts" ? "account" : "lead"} matches.`;
    const box = el("div", { class: "group", role: "group", "aria-label": group.kind === "and" ? "All of" : "Any of" }, head,
      children.length ? children : el("p", { class: "muted" }, nothing));
    rows.set(group, box);
    return box;
  }

  function render() {
    rows.clear();
    clear(mount, groupBox(root, null));
    enhancePending();
  }

  const api_ = {
    filter() { return toJson(root, "filter", null); },
    setFilter(data) { root = asGroup(fromJson(data)); render(); },
    clearErrors() {
      mount.querySelectorAll(".field-error").forEach((n) => n.remove());
      mount.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
    },
    // Each row's own count, from POST /segments/preview/conditions ({path, count} items).
    showCounts(items) {
      const paths = new Map();
      toJson(root, "filter", paths);
      mount.querySelectorAll(".row-count").forEach((n) => { n.textContent = ""; });
      for (const { path, count } of items) {
        const badge = rows.get(paths.get(path))?.querySelector(":scope > .row-count");
        if (badge) badge.textContent = `${fmtNumber(count)} lead${count === 1 ? "" : "s"}`;
      }
    },
    // Shows `message` at the row whose JSON path is the longest prefix of `path`.
    showError(path, message) {
      api_.clearErrors();
      const paths = new Map();
      toJson(root, "filter", paths);
      let best = null;
      for (const [candidate, node] of paths) {
        const fits = path === candidate || path.startsWith(`${candidate}.`) || path.startsWith(`${candidate}[`);
        if (fits && (!best || candidate.length > best[0].length)) best = [candidate, node];
      }
      const row = best ? rows.get(best[1]) : mount.firstElementChild;
      if (!row) return;
      row.setAttribute("aria-invalid", "true");
      const detail = best ? path.slice(best[0].length).replace(/^\./, "") : "";  // e.g. "value"
      row.append(el("div", { class: "field-error", role: "alert" }, detail ? `${detail}: ${message}` : message));
    },
  };
  render();
  return api_;
}

// The live count: debounced previews of the builder's filter, with five sample leads, the
// share of all leads it is, and each row's own count.
// `audience` "accounts": an account segment's filter, counted and sampled as accounts.
function livePreview({ builder, countBox, sampleBox, warningBox, textBox, baseline, shareBox, audience = "leads" }) {
  const showText = textBox ? textShower(textBox, audience) : null;
  if (audience === "accounts") return accountPreview({ builder, countBox, sampleBox, warningBox, baseline, shareBox, showText });
  let controller = null;
  let allLeads = null;  // the whole the share is of, counted once a page
  async function share(count) {
    if (!shareBox) return;
    allLeads = allLeads ?? api("/leads/count").then((r) => r.count);
    const all = await allLeads;
    shareBox.textContent = all ? `${fmtShare(count / all)} of all ${fmtNumber(all)} leads` : "";
  }
  async function rowCounts(filter, signal) {
    try {
      const counts = await api("/segments/preview/conditions", { method: "POST", body: { filter }, signal });
      builder.showCounts(counts.items);
    } catch (_) { builder.showCounts([]); }  // the main count says what is wrong
  }
  async function update(filter) {
    controller?.abort();
    controller = new AbortController();
    const group = filter.and || filter.or;
    if (group && group.length === 0) {  // the language needs a condition; say so, not "error"
      builder.clearErrors();
      countBox.textContent = "Add a condition to see how many leads match";
      if (shareBox) shareBox.textContent = "";
      clear(sampleBox);
      clear(warningBox);
      showText?.(null);
      return;
    }
    countBox.textContent = "Counting…";
    try {
      const result = await api("/segments/preview", { method: "POST", body: { filter }, signal: controller.signal });
      builder.clearErrors();
      const matches = `${fmtNumber(result.count)} leads match your filters`;
      countBox.textContent = baseline === null ? matches : `${fmtNumber(baseline)} → ${fmtNumber(result.count)} members`;
      countBox.title = matches;
      share(result.count);
      rowCounts(filter, controller.signal);
      clear(sampleBox, result.sample.map((lead) => el("li", {},
        el("a", { href: projectUrl(`/leads/${lead.id}`) }, leadName(lead)),
        el("span", { class: "muted" }, ` · ${[lead.job_title, lead.company, lead.status].filter(Boolean).join(" · ")}`))));
      const hint = result.count < 10 ? "Few matches: loosen the filters (remove conditions, use OR)."
        : result.count > 1000 ? "Many matches: tighten the filters (add conditions, narrow values)." : null;
      clear(warningBox, result.warnings.map((w) => el("p", { class: "warn" }, w)), hint ? el("p", { class: "muted" }, hint) : null);
      await showText?.(filter, controller.signal);
    } catch (error) {
      if (error.name === "AbortError") return;
      clear(sampleBox);
      if (error.path) {
        countBox.textContent = "Fix the highlighted condition to see the count";
        builder.showError(error.path, error.message);
      } else {
        countBox.textContent = "Cannot count right now";
        toast(error.message, "error");
      }
    }
  }
  return debounce(update, 350);
}

// The builder's filter as text (an account filter's with audience "accounts"), in the box,
// unless the box holds text the user typed and has not applied (it differs from what was last
// printed): that is kept, and Save applies it. A null filter empties the box.
function textShower(textBox, audience) {
  return async (filter, signal) => {
    const text = filter === null ? ""
      : (await api(`/filters/text?audience=${audience}`, { method: "POST", body: { filter }, signal })).text;
    const typed = textBox.value.trim() !== (textBox.dataset.printed ?? "").trim();
    textBox.dataset.printed = text;
    if (!typed) textBox.value = text;
  };
}

// The live count of an account filter: accounts matching, five of them with their lead counts.
// (Each row's own count and the share are for lead filters.)
function accountPreview({ builder, countBox, sampleBox, warningBox, baseline, shareBox, showText }) {
  let controller = null;
  async function update(filter) {
    controller?.abort();
    controller = new AbortController();
    if (shareBox) shareBox.textContent = "";
    clear(warningBox);
    const group = filter.and || filter.or;
    if (group && group.length === 0) {
      builder.clearErrors();
      countBox.textContent = "Add a condition to see how many accounts match";
      clear(sampleBox);
      showText?.(null);
      return;
    }
    countBox.textContent = "Counting…";
    try {
      const result = await api("/segments/preview/accounts", { method: "POST", body: { filter }, signal: controller.signal });
      builder.clearErrors();
      const one = result.count === 1;
      const matches = `${fmtNumber(result.count)} account${one ? " matches" : "s match"} your filters`;
      countBox.textContent = baseline === null ? matches : `${fmtNumber(baseline)} → ${fmtNumber(result.count)} members`;
      countBox.title = matches;
      clear(sampleBox, result.sample.map((account) => el("li", {}, account.name,
        el("span", { class: "muted" }, ` · ${[account.domain, `${fmtNumber(account.lead_count)} leads`].filter(Boolean).join(" · ")}`))));
      await showText?.(filter, controller.signal);
    } catch (error) {
      if (error.name === "AbortError") return;
      clear(sampleBox);
      if (error.path) {
        countBox.textContent = "Fix the highlighted condition to see the count";
        builder.showError(error.path, error.message);
      } else {
        countBox.textContent = "Cannot count right now";
        toast(error.message, "error");
      }
    }
  }
  return debounce(update, 350);
}
