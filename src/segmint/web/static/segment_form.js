// Creating and editing a segment: details, the builder, a live count, the text syntax.
"use strict";

(async function segmentForm() {
  const id = BOOT.segment_id;
  const form = document.getElementById("segment-form");
  const name = document.getElementById("segment-name");
  const description = document.getElementById("segment-description");
  const color = document.getElementById("segment-color");
  const active = document.getElementById("segment-active");
  const text = document.getElementById("filter-text");
  const textError = document.getElementById("text-error");
  const formError = document.getElementById("form-error");

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
    vocabulary.segments = vocabulary.segments.filter((s) => s.id !== segment.id);
  }
  const initial = segment ? segment.filter : { and: [] };
  let preview = () => {};
  const builder = createBuilder({
    mount: document.getElementById("builder"),
    vocabulary,
    initial,
    onChange: (filter) => preview(filter),
  });
  preview = livePreview({
    builder,
    countBox: document.getElementById("live-count"),
    sampleBox: document.getElementById("preview-sample"),
    warningBox: document.getElementById("preview-warnings"),
    textBox: text,
    baseline: segment ? segment.member_count : null,
  });
  preview(builder.filter());

  document.getElementById("apply-text").addEventListener("click", async () => {
    textError.textContent = "";
    try {
      const parsed = await api("/filters/parse", { method: "POST", body: { text: text.value } });
      builder.setFilter(parsed.filter);
      text.value = parsed.text;
      preview(builder.filter());
    } catch (error) {
      textError.textContent = error.message;
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.textContent = "";
    name.removeAttribute("aria-invalid");
    if (!name.value.trim()) {
      name.setAttribute("aria-invalid", "true");
      formError.textContent = "A segment needs a name.";
      name.focus();
      return;
    }
    const body = {
      name: name.value.trim(),
      description: description.value.trim(),
      color: color.value,
      active: active.checked,
      filter: builder.filter(),
    };
    try {
      const saved = id
        ? await api(`/segments/${id}`, { method: "PATCH", body })
        : await api("/segments", { method: "POST", body });
      flashNext(id
        ? `Segment saved: ${fmtNumber(segment.member_count)} → ${fmtNumber(saved.member_count)} members.`
        : `Segment created successfully with ${fmtNumber(saved.member_count)} members`);
      location.assign(projectUrl(`/segments/${saved.id}`));
    } catch (error) {
      if (error.path && error.path.startsWith("filter")) builder.showError(error.path, error.message);
      formError.textContent = error.message;
    }
  });
})();
