// Creating and editing a segment: details, the builder, a live count, the text syntax.
"use strict";

(async function segmentForm() {
  const id = BOOT.segment_id;
  const form = document.getElementById("segment-form");
  const name = document.getElementById("segment-name");
  const description = document.getElementById("segment-description");
  const color = document.getElementById("segment-color");
  const active = document.getElementById("segment-active");
  const tags = document.getElementById("segment-tags");
  const text = document.getElementById("filter-text");
  const textError = document.getElementById("text-error");
  const formError = document.getElementById("form-error");
  const audienceBox = document.getElementById("segment-audience");
  const audienceChoices = [...audienceBox.querySelectorAll("input[name=audience]")];
  const chosenAudience = () => (segment ? segment.audience : audienceChoices.find((c) => c.checked).value);

  let segment = null;
  let vocabulary;
  try {
    vocabulary = await api("/filters/vocabulary");
    if (id) segment = await api(`/segments/${id}`);
  } catch (error) {
    formError.textContent = error.message;
    return;
  }
  if (segment) {
    name.value = segment.name;
    description.value = segment.description;
    color.value = segment.color;
    active.checked = segment.active;
    tags.value = segment.tags.join(", ");
    vocabulary.segments = vocabulary.segments.filter((s) => s.id !== segment.id);
  }
  loadTagOptions();
  let preview = () => {};
  let builder = null;
  // The builder for the segment's audience: leads (fields, events, segments, lists) or accounts
  // (account fields, "leads matching", account segments). Switching audience starts afresh.
  function build(audience, initial) {
    builder = createBuilder({
      mount: document.getElementById("builder"),
      vocabulary,
      initial,
      audience,
      onChange: (filter) => preview(filter),
    });
    preview = livePreview({
      builder,
      countBox: document.getElementById("live-count"),
      sampleBox: document.getElementById("preview-sample"),
      warningBox: document.getElementById("preview-warnings"),
      textBox: text,
      baseline: segment ? segment.member_count : null,
      shareBox: document.getElementById("live-share"),
      audience,
    });
    text.value = ""; text.dataset.printed = "";  // a new builder prints its own filter
    document.getElementById("sample-title").textContent = audience === "accounts" ? "Sample accounts" : "Sample leads";
    preview(builder.filter());
  }
  if (segment) {
    // Fixed at creation: said, not offered.
    clear(audienceBox, el("legend", {}, "Members are"),
      el("p", { id: "segment-audience-fixed" }, segment.audience === "accounts" ? "Accounts (companies)" : "Leads"));
  } else {
    audienceChoices.forEach((choice) => choice.addEventListener("change", () => build(chosenAudience(), { and: [] })));
  }
  build(chosenAudience(), segment ? segment.filter : { and: [] });

  // Nothing typed is lost: leaving with changes not saved asks first.
  const snapshot = () => JSON.stringify([name.value, description.value, color.value, active.checked,
    tags.value, builder.filter(), unappliedText()]);
  const unappliedText = () => (text.value.trim() !== (text.dataset.printed ?? "").trim() ? text.value.trim() : "");
  const pristine = snapshot();
  let leaving = false;
  window.addEventListener("beforeunload", (event) => {
    if (leaving || snapshot() === pristine) return;
    event.preventDefault();
    event.returnValue = "";  // the browser asks "Leave site? Changes you made may not be saved."
  });

  // Text typed in the text syntax box but not applied is applied on Save, and said so; text
  // that does not parse stops the save where it is.
  async function applyTypedText() {
    const typed = unappliedText();
    if (!typed) return true;
    try {
      const parsed = await api(`/filters/parse?audience=${chosenAudience()}`, { method: "POST", body: { text: typed } });
      builder.setFilter(parsed.filter);
      text.value = parsed.text;
      text.dataset.printed = parsed.text;
      toast("The text syntax was applied before saving.");
      return true;
    } catch (error) {
      text.closest("details").open = true;
      textError.textContent = error.message;
      formError.textContent = "The text syntax has an error: fix it, or clear the box, before saving.";
      text.focus();
      return false;
    }
  }

  // "Q4, outreach" -> ["Q4", "outreach"]; the API trims, de-duplicates and checks them.
  function tagList() {
    return tags.value.split(",").map((t) => t.trim()).filter(Boolean);
  }
  // The tags already in use, each a button that adds it: one spelling keeps being used.
  async function loadTagOptions() {
    let facets;
    try {
      const scope = ["owner", "admin"].includes(BOOT.role) ? "all" : "mine";
      facets = await api(`/segments/facets?scope=${scope}`);
    } catch (error) { return; }  // suggestions only
    if (!facets.tags.length) return;
    const add = (tag) => {
      const current = tagList();
      if (!current.some((t) => t.toLowerCase() === tag.toLowerCase())) tags.value = [...current, tag].join(", ");
    };
    clear(document.getElementById("segment-tags-used"), "In use: ", facets.tags.map((t) =>
      el("button", { type: "button", class: "tag", "aria-label": `Add tag ${t.value}`, onclick: () => add(t.value) }, t.value)));
  }

  document.getElementById("apply-text").addEventListener("click", async () => {
    textError.textContent = "";
    try {
      const parsed = await api(`/filters/parse?audience=${chosenAudience()}`, { method: "POST", body: { text: text.value } });
      builder.setFilter(parsed.filter);
      text.value = parsed.text;
      text.dataset.printed = parsed.text;
      preview(builder.filter());
    } catch (error) {
      textError.textContent = error.message;
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.textContent = "";
    name.removeAttribute("aria-invalid");
    tags.removeAttribute("aria-invalid");
    if (!name.value.trim()) {
      name.setAttribute("aria-invalid", "true");
      formError.textContent = "A segment needs a name.";
      name.focus();
      return;
    }
    if (!(await applyTypedText())) return;
    const filter = builder.filter();
    const group = filter.and || filter.or;
    if (group && group.length === 0) {
      formError.textContent = "Add at least one condition (or type one in the text syntax) before saving.";
      return;
    }
    const body = {
      name: name.value.trim(),
      description: description.value.trim(),
      color: color.value,
      active: active.checked,
      tags: tagList(),
      filter,
    };
    if (!id) body.audience = chosenAudience();
    try {
      const saved = id
        ? await api(`/segments/${id}`, { method: "PATCH", body })
        : await api("/segments", { method: "POST", body });
      flashNext(id
        ? `Segment saved: ${fmtNumber(segment.member_count)} → ${fmtNumber(saved.member_count)} members.`
        : `Segment created successfully with ${fmtNumber(saved.member_count)} members`);
      leaving = true;
      location.assign(projectUrl(`/segments/${saved.id}`));
    } catch (error) {
      if (error.path && error.path.startsWith("filter")) builder.showError(error.path, error.message);
      if (error.path && error.path.startsWith("tags")) tags.setAttribute("aria-invalid", "true");
      formError.textContent = error.path && error.path.startsWith("tags") ? `Tags: ${error.message}` : error.message;
    }
  });
})();
