// Editing a lead on its page: the Fields card turns into a form of the fields a person keeps
// (scores, levels, times and enrichment are Segmint's or a provider's, and stay read-only).
// Save sends only what changed (PATCH); errors from the API are shown beside the fields they
// name, and the form keeps everything typed.
"use strict";

const CONTACT_FIELDS = [
  { key: "email", label: "Email", type: "email", autocomplete: "off" },
  { key: "first_name", label: "First name" },
  { key: "last_name", label: "Last name" },
  { key: "phone", label: "Phone", type: "tel" },
  { key: "phone_type", label: "Phone type", choices: "phoneTypes" },
  { key: "company", label: "Company" },
  { key: "job_title", label: "Job title" },
  { key: "country", label: "Country" },
  { key: "language", label: "Language" },
];
const PIPELINE_FIELDS = [
  { key: "status", label: "Status", choices: "statuses" },
  { key: "owner", label: "Owner", choices: "owners" },
  { key: "priority", label: "Priority" },
  { key: "group_name", label: "Group" },
];
const OTHER = "\u0000other";  // the source select's "Other…": no stored source can be this
const TEXT_MAX = 1000;  // as the API's (model.py TEXT_MAX): the input stops where the API would refuse

// What the selects offer, from the project: the builder's vocabulary (statuses, sources seen in
// the data, phone types) and the declared custom fields.
async function loadLeadChoices() {
  const [vocabulary, custom, users] = await Promise.all([api("/filters/vocabulary"), api("/custom-fields"), api("/assignees")]);
  const fields = vocabulary.groups.flatMap((group) => group.fields);
  const options = (name) => fields.find((f) => f.name === name)?.options || [];
  const ownerLabels = Object.fromEntries(users.items.map((u) => [u.email, assigneeLabel(u, users.me)]));
  return { statuses: options("status"), sources: options("source"), phoneTypes: options("phone_type"), custom: custom.items,
    owners: users.items.map((u) => u.email), labels: { owners: ownerLabels } };
}

const sameValue = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const textOrNull = (text) => text.trim() || null;

// A labelled box for one field; `path` is the API's name for it, where its errors are shown.
function fieldBox(path, id, label, input, hint) {
  const error = el("p", { class: "field-error", id: `${id}-error` });
  const hintNode = hint ? el("p", { class: "hint muted", id: `${id}-hint` }, hint) : null;
  input.setAttribute("aria-describedby", [hintNode && hintNode.id, error.id].filter(Boolean).join(" "));
  const box = el("div", { class: "stacked", dataset: { path } }, el("label", { for: id }, label), input, hintNode, error);
  return { box, input, error, path };
}

function selectOf(id, values, current, labels = {}) {
  const known = current === null || current === undefined || current === "" || values.includes(current) ? values : [...values, current];
  return el("select", { id },
    el("option", { value: "" }, "(none)"),
    known.map((v) => el("option", { value: v, selected: v === current }, labels[v] || v)));
}

function textControl(field, lead, choices) {
  const id = `edit-${field.key}`;
  const current = lead[field.key] ?? null;
  const input = field.choices
    ? selectOf(id, choices[field.choices], current, (choices.labels || {})[field.choices])
    : el("input", { id, type: field.type || "text", value: current ?? "", maxlength: TEXT_MAX, autocomplete: field.autocomplete || null });
  const control = fieldBox(field.key, id, field.label, input);
  return { ...control, key: field.key, original: current, value: () => textOrNull(input.value) };
}

// Sources are open-ended: the ones the project has seen are offered, and "Other…" takes a new one.
function sourceControl(lead, choices) {
  const current = lead.source ?? null;
  const select = selectOf("edit-source", choices.sources, current);
  select.append(el("option", { value: OTHER }, "Other…"));
  const other = el("input", { id: "edit-source-other", maxlength: TEXT_MAX, autocomplete: "off" });
  const otherBox = el("div", { class: "stacked", hidden: true }, el("label", { for: "edit-source-other" }, "New source"), other);
  select.addEventListener("change", () => {
    otherBox.hidden = select.value !== OTHER;
    if (!otherBox.hidden) other.focus();
  });
  const control = fieldBox("source", "edit-source", "Source", select);
  control.box.insertBefore(otherBox, control.error);
  const value = () => (select.value === OTHER ? textOrNull(other.value) : select.value || null);
  return { ...control, key: "source", original: current, value };
}

// Tags as removable chips and a text box that adds one on Enter or a comma.
function tagsControl(lead) {
  const tags = [...(lead.tags || [])];
  const list = el("ul", { class: "tag-list", "aria-label": "Tags of this lead" });
  const input = el("input", { id: "edit-tags", maxlength: 100, autocomplete: "off" });
  const add = el("button", { type: "button" }, "Add tag");
  const said = el("p", { class: "sr-only", "aria-live": "polite" });
  function render() {
    clear(list, tags.map((tag, i) => el("li", { class: "pill tag" }, tag,
      el("button", { type: "button", "aria-label": `Remove tag ${tag}`, onclick: () => remove(i) }, "×"))));
    list.hidden = !tags.length;
  }
  function remove(index) {
    const [gone] = tags.splice(index, 1);
    render();
    said.textContent = `Tag ${gone} removed.`;
    (list.querySelectorAll("button")[Math.min(index, tags.length - 1)] || input).focus();
  }
  // The typed text as new tags (a comma separates several).
  const typed = () => [...new Set(input.value.split(",").map((t) => t.trim()))].filter((t) => t && !tags.includes(t));
  function commit() {
    const added = typed();
    input.value = "";
    if (!added.length) return;
    tags.push(...added);
    render();
    said.textContent = `Tag ${added.join(", ")} added.`;
  }
  input.addEventListener("keydown", (event) => {
    if ((event.key === "Enter" && input.value.trim()) || event.key === ",") {
      event.preventDefault();  // Enter adds the tag rather than saving the form
      commit();
    }
  });
  add.addEventListener("click", () => { commit(); input.focus(); });
  render();
  const control = fieldBox("tags", "edit-tags", "Add a tag", input, "Enter or a comma adds it; × removes one.");
  const row = el("div", { class: "tag-input" });
  input.replaceWith(row);
  row.append(input, add);
  control.box.prepend(list, said);
  // Text typed but not yet added is a tag too: Save must not drop it.
  return { ...control, key: "tags", original: lead.tags || [], value: () => [...tags, ...typed()] };
}

// A declared custom field, with the input its type calls for.
function customControl(definition, lead) {
  const id = `edit-custom-${definition.key}`;
  const current = (lead.custom || {})[definition.key] ?? null;
  let input;
  let value;
  if (definition.type === "select") {
    input = selectOf(id, definition.options, current);
    value = () => input.value || null;
  } else if (definition.type === "boolean") {
    input = selectOf(id, ["true", "false"], current === null ? null : String(current), { true: "Yes", false: "No" });
    value = () => (input.value === "" ? null : input.value === "true");
  } else if (definition.type === "number") {
    input = el("input", { id, type: "number", step: "any", value: current ?? "" });
    value = () => (input.value === "" ? null : Number(input.value));
  } else if (definition.type === "date") {
    input = el("input", { id, type: "date", value: current ?? "" });
    value = () => input.value || null;
  } else {
    input = el("input", { id, value: current ?? "", maxlength: TEXT_MAX });
    value = () => textOrNull(input.value);
  }
  const control = fieldBox(`custom.${definition.key}`, id, definition.label, input);
  return { ...control, customKey: definition.key, original: current, value };
}

// The form over `lead`: its node, and what the page asks of it.
function leadForm(lead, choices, { onSave, onCancel }) {
  const contact = CONTACT_FIELDS.map((f) => textControl(f, lead, choices));
  const [status, ...rest] = PIPELINE_FIELDS.map((f) => textControl(f, lead, choices));
  const pipeline = [status, sourceControl(lead, choices), ...rest];
  const tags = tagsControl(lead);
  const custom = choices.custom.map((d) => customControl(d, lead));
  const controls = [...contact, ...pipeline, tags, ...custom];
  const formError = el("div", { class: "field-error", id: "lead-form-error", role: "alert", tabindex: "-1" });
  const save = el("button", { type: "submit", class: "primary" }, "Save");
  const group = (legend, items) => el("fieldset", {}, el("legend", {}, legend), el("div", { class: "field-grid" }, items.map((c) => c.box)));
  const node = el("form", { id: "lead-form", class: "lead-form", novalidate: true, "aria-labelledby": "fields-title" },
    formError,
    group("Contact", contact),
    group("Pipeline", pipeline),
    el("fieldset", {}, el("legend", {}, "Tags"), tags.box),
    custom.length ? group("Custom fields", custom) : null,
    el("p", { class: "muted" }, "Scores, levels, dates and enrichment are kept by Segmint and are not edited here."),
    el("div", { class: "buttons" }, save, el("button", { type: "button", onclick: onCancel }, "Cancel")));

  // Only what differs from the lead as loaded; an emptied field is null (the API clears it).
  function changes() {
    const body = {};
    for (const c of controls) {
      const value = c.value();
      if (sameValue(value, c.original)) continue;
      if (c.customKey) (body.custom ||= {})[c.customKey] = value;
      else body[c.key] = value;
    }
    return body;
  }
  function clearErrors() {
    formError.textContent = "";
    for (const c of controls) {
      c.error.textContent = "";
      c.input.removeAttribute("aria-invalid");
    }
  }
  // The control the path names (`tags[2]` is the tags'), else null.
  const controlAt = (path) => controls.find((c) => path === c.path || path.startsWith(`${c.path}[`) || path.startsWith(`${c.path}.`));
  function showError(path, message, extra) {
    const control = path && controlAt(path);
    const target = control ? control.error : formError;
    if (control) control.input.setAttribute("aria-invalid", "true");
    target.append(target.childNodes.length ? " " : "", message, ...(extra || []));
    return control;
  }
  // Each problem beside its field; the first field with one gets the focus.
  function showApiError(error) {
    const problems = error.problems?.length ? error.problems : [{ path: error.path, message: error.message }];
    const shown = problems.map((p) => (error.status === 409 && p.path === "email" ? duplicateEmail(p.message) : showError(p.path, p.message)));
    const first = shown.find(Boolean);
    if (first) first.input.focus();
    else formError.focus();
  }
  function duplicateEmail(message) {
    const other = /^lead (\d+) /.exec(message);
    const link = other ? el("a", { href: projectUrl(`/leads/${other[1]}`) }, `Open lead ${other[1]}`) : null;
    return showError("email", "Another lead already has this email.", link ? [" ", link, "."] : null);
  }
  // What the browser could not read (letters in a number field) is caught here: sending it
  // would clear the field instead.
  function unreadable() {
    const bad = controls.filter((c) => c.input.validity?.badInput);
    bad.forEach((c) => showError(c.path, "Enter a number."));
    bad[0]?.input.focus();
    return bad.length > 0;
  }
  node.addEventListener("input", (event) => {  // a field being corrected stops saying it is wrong
    const control = controls.find((c) => c.box.contains(event.target));
    if (control && control.input.getAttribute("aria-invalid")) {
      control.error.textContent = "";
      control.input.removeAttribute("aria-invalid");
    }
  });
  node.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors();
    if (!unreadable()) onSave();
  });
  return {
    node,
    changes,
    showApiError,
    focusFirst: () => controls[0].input.focus(),
    busy(on) {
      save.disabled = on;
      save.textContent = on ? "Saving…" : "Save";
    },
  };
}

// The Edit button and the Fields card: `showFields(lead)` draws the card read-only; `onSaved`
// runs after a save with the stored lead (the page redraws what depends on it).
function leadEditor({ card, button, lead: loaded, showFields, onSaved }) {
  let lead = loaded;
  let form = null;  // the open form, or null while the card shows the fields
  let choices = null;  // loaded on the first Edit, kept for the next

  async function open() {
    button.disabled = true;
    try {
      choices = choices || (await loadLeadChoices());
    } catch (error) {
      toast(error.message, "error");
      return;
    } finally {
      button.disabled = false;
    }
    form = leadForm(lead, choices, { onSave: save, onCancel: close });
    clear(card, form.node);
    button.hidden = true;
    form.focusFirst();
  }
  function close() {  // Cancel: the card shows the lead as stored, whatever was typed
    form = null;
    showFields(lead);
    button.hidden = false;
    button.focus();
  }
  async function save() {
    const body = form.changes();
    if (!Object.keys(body).length) {
      close();
      toast("Nothing changed.");
      return;
    }
    form.busy(true);
    try {
      lead = await api(`/leads/${lead.id}`, { method: "PATCH", body });
    } catch (error) {
      form.busy(false);
      form.showApiError(error);
      return;
    }
    close();
    toast("Lead saved.");
    onSaved(lead);
  }
  button.addEventListener("click", open);
  window.addEventListener("beforeunload", (event) => {
    if (!form || !Object.keys(form.changes()).length) return;
    event.preventDefault();
    event.returnValue = "";  // older browsers ask only when this is set
  });
  button.hidden = false;
}
