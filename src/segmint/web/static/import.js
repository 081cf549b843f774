// CSV import: the server guesses each column's field, the user adjusts, then the import runs
// with its progress streamed back line by line (NDJSON).
"use strict";

(function importPage() {
  const form = document.getElementById("import-form");
  const fileInput = document.getElementById("import-file");
  const mapping = document.getElementById("mapping");
  const rows = document.getElementById("mapping-rows");
  const status = document.getElementById("import-status");
  const bar = document.getElementById("import-progress");
  const text = document.getElementById("import-text");
  const errors = document.getElementById("import-errors");
  const start = document.getElementById("start-import");

  async function upload(path, data) {
    return fetch(`/api/v1/projects/${encodeURIComponent(BOOT.project)}${path}`, {
      method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRF-Token": BOOT.csrf },
    });
  }
  async function failure(response) {
    try { return (await response.json()).error.message; } catch (_) { return `${response.status} ${response.statusText}`; }
  }

  fileInput.addEventListener("change", async () => {
    mapping.hidden = true;
    const file = fileInput.files[0];
    if (!file) return;
    const data = new FormData();
    data.append("file", file.slice(0, 64 * 1024), file.name);
    const response = await upload("/leads/import/columns", data);
    if (!response.ok) { toast(await failure(response), "error"); return; }
    const guess = await response.json();
    clear(rows, guess.columns.map((column, i) => {
      const select = el("select", { id: `map-${i}`, dataset: { column: column.name } },
        el("option", { value: "" }, "Ignore this column"),
        guess.targets.map((t) => el("option", { value: t, selected: t === column.target }, t)));
      return el("tr", {}, el("td", {}, el("label", { for: `map-${i}` }, column.name)), el("td", {}, select));
    }));
    mapping.hidden = false;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = fileInput.files[0];
    if (!file) return;
    const chosen = {};
    rows.querySelectorAll("select").forEach((s) => { chosen[s.dataset.column] = s.value || "-"; });
    const data = new FormData();
    data.append("file", file, file.name);
    data.append("mapping", JSON.stringify(chosen));
    data.append("on_conflict", form.querySelector("input[name=on_conflict]:checked").value);
    start.disabled = true;
    status.hidden = false;
    clear(errors);
    bar.value = 0;
    text.textContent = "Uploading…";
    const response = await upload("/leads/import", data);
    if (!response.ok) {
      text.textContent = await failure(response);
      start.disabled = false;
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split("\n");
      buffered = lines.pop();
      lines.filter(Boolean).forEach((line) => show(JSON.parse(line)));
    }
    start.disabled = false;
  });

  function show(update) {
    const pct = update.total_bytes ? Math.round((100 * update.read_bytes) / update.total_bytes) : 0;
    bar.value = pct;
    if (!update.done) {
      text.textContent = `Importing… ${pct}%`;
      return;
    }
    if (update.error) {
      text.textContent = `Import stopped: ${update.path ? `${update.path}: ` : ""}${update.error}`;
      text.className = "error";
      return;
    }
    text.className = update.failed || update.warnings?.length ? "warn" : "ok";
    text.textContent = `Imported: ${fmtNumber(update.created)} created, ${fmtNumber(update.updated)} updated, ` +
      `${fmtNumber(update.skipped)} skipped, ${fmtNumber(update.failed)} failed.`;
    clear(errors, [
      ...(update.warnings || []).map((w) => el("li", { class: "warn" }, `Warning: ${w}`)),
      ...update.errors.map((e) => el("li", { class: "error" }, `Line ${e.line}: ${e.message}`)),
    ]);
  }
})();
