// CSV import: the server checks the file's first 64 KB (what each column feeds, sample values,
// encoding and quoting problems), the user adjusts the mapping (checked again by the same rules
// the import applies), then the import runs with its progress streamed back line by line.
"use strict";

(function importPage() {
  const SAMPLE_BYTES = 64 * 1024; // what the server checks, so all a check needs to send
  const OTHER_PATH = "enrichment.*"; // the menu entry that asks for a typed enrichment path
  const form = document.getElementById("import-form");
  const fileInput = document.getElementById("import-file");
  const encodingInput = document.getElementById("import-encoding");
  const checkBox = document.getElementById("check-problems");
  const checkList = document.getElementById("check-list");
  const mapping = document.getElementById("mapping");
  const rows = document.getElementById("mapping-rows");
  const paths = document.getElementById("enrichment-paths");
  const blocked = document.getElementById("import-blocked");
  const status = document.getElementById("import-status");
  const bar = document.getElementById("import-progress");
  const text = document.getElementById("import-text");
  const errors = document.getElementById("import-errors");
  const start = document.getElementById("start-import");
  let checking = 0; // the latest check; an older answer arriving late is dropped

  async function upload(path, data) {
    return fetch(`/api/v1/projects/${encodeURIComponent(BOOT.project)}${path}`, {
      method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRF-Token": BOOT.csrf },
    });
  }
  async function failure(response) {
    try {
      const { error } = await response.json();
      return { message: error.message, path: error.path || null };
    } catch (_) { return { message: `${response.status} ${response.statusText}`, path: null }; }
  }
  const lineOf = (path) => (path && /^line \d+$/.test(path) ? `Line ${path.slice(5)}: ` : "");

  function block(reason) {
    blocked.textContent = reason || "";
    start.disabled = Boolean(reason);
  }

  // The mapping the rows hold: {column: field or "-"}, with typed enrichment paths filled in.
  function chosenMapping() {
    const chosen = {};
    rows.querySelectorAll("li[data-column]").forEach((row) => {
      const select = row.querySelector("select");
      const typed = row.querySelector("input").value.trim();
      chosen[row.dataset.column] = select.value === OTHER_PATH ? `enrichment.${typed}` : select.value || "-";
    });
    return chosen;
  }

  // Asks the server what importing the file would do. `withMapping`: check the user's choices
  // rather than guess (a file just picked is guessed; later checks keep what the user chose).
  async function check(withMapping) {
    const file = fileInput.files[0];
    if (!file) { block("Choose a CSV file first."); return; }
    const mine = ++checking;
    block("Checking the file…");
    const data = new FormData();
    data.append("file", file.slice(0, SAMPLE_BYTES), file.name);
    data.append("partial", String(file.size > SAMPLE_BYTES));
    data.append("encoding", encodingInput.value);
    if (withMapping) data.append("mapping", JSON.stringify(chosenMapping()));
    const response = await upload("/leads/import/columns", data);
    if (mine !== checking) return;
    if (!response.ok) { refused(await failure(response), withMapping); return; }
    const answer = await response.json();
    if (!withMapping) showColumns(answer);
    showProblems(answer.problems);
  }

  // A check refused: a bad mapping leaves the rows in place with the reason beside its column;
  // a file that cannot be read (encoding, no header) has no columns to show.
  function refused(error, withMapping) {
    const mappingError = withMapping && error.path === "mapping";
    if (!mappingError) mapping.hidden = true;
    rows.querySelectorAll(".field-error").forEach((note) => {
      note.textContent = mappingError && error.message.startsWith(`${note.dataset.column}=`) ? error.message : "";
    });
    const problem = { level: "error", message: `${lineOf(error.path)}${error.message}` };
    showProblems([problem], true);
  }

  function showProblems(problems, plain = false) {
    clear(checkList, problems.map((p) => el("li", { class: p.level },
      plain ? p.message : `Line ${p.line}: ${p.level === "error" ? "" : "warning: "}${p.message}`)));
    checkBox.hidden = problems.length === 0;
    if (!plain) rows.querySelectorAll(".field-error").forEach((note) => { note.textContent = ""; });
    const firstError = problems.find((p) => p.level === "error");
    block(firstError ? "Fix the problems above before importing: the import would report them too." : "");
  }

  function showColumns(answer) {
    const options = answer.target_options;
    clear(paths, options.filter((o) => o.group === "Enrichment" && o.value !== "enrichment")
      .map((o) => el("option", { value: o.value.slice("enrichment.".length) }, o.label)));
    clear(rows, answer.columns.map((column, i) => columnRow(column, i, options)));
    mapping.hidden = false;
  }

  function columnRow(column, i, options) {
    const id = `map-${i}`;
    const samples = column.samples.length ? `e.g. ${column.samples.join(" · ")}` : "no values in the first rows";
    const select = el("select", { id, "aria-describedby": `samples-${i} error-${i}`, onchange: () => onChoice(row) },
      el("option", { value: "" }, "Ignore this column"),
      ["Standard", "Enrichment", "Custom"].map((group) => el("optgroup", { label: `${group} fields` },
        options.filter((o) => o.group === group).map((o) => targetOption(o, column.target)),
        group === "Enrichment" ? el("option", { value: OTHER_PATH }, "Another enrichment path…") : null)));
    const path = el("input", { id: `path-${i}`, list: "enrichment-paths", placeholder: "company.founded",
      "aria-describedby": `label-${i} error-${i}`,
      autocomplete: "off", spellcheck: "false", oninput: debounce(() => check(true), 400) });
    const row = el("li", { class: "mapping-row", dataset: { column: column.name } },
      el("div", {},
        el("label", { for: id, id: `label-${i}`, class: "column-name", title: column.name }, column.name),
        el("span", { id: `samples-${i}`, class: "samples muted", title: column.samples.join("\n") }, samples)),
      el("div", {}, select,
        el("div", { class: "path-input", hidden: true },
          el("span", { "aria-hidden": "true" }, "enrichment."),
          // Not named after the column: the column's name labels its menu alone.
          el("label", { for: `path-${i}`, class: "sr-only" }, "Enrichment path"), path),
        el("p", { id: `error-${i}`, class: "field-error", dataset: { column: column.name } })));
    return row;
  }

  function targetOption(option, guessed) {
    const label = option.group === "Standard" ? option.label : `${option.label} (${option.value})`;
    return el("option", { value: option.value, selected: option.value === guessed }, label);
  }

  function onChoice(row) {
    const other = row.querySelector("select").value === OTHER_PATH;
    row.querySelector(".path-input").hidden = !other;
    if (other) row.querySelector("input").focus();
    check(true);
  }

  fileInput.addEventListener("change", () => { mapping.hidden = true; status.hidden = true; check(false); });
  encodingInput.addEventListener("change", () => check(!mapping.hidden));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = fileInput.files[0];
    if (!file || start.disabled) return;
    const data = new FormData();
    data.append("file", file, file.name);
    data.append("mapping", JSON.stringify(chosenMapping()));
    data.append("encoding", encodingInput.value);
    data.append("on_conflict", form.querySelector("input[name=on_conflict]:checked").value);
    start.disabled = true;
    status.hidden = false;
    clear(errors);
    bar.value = 0;
    text.className = "";
    text.textContent = "Uploading…";
    const response = await upload("/leads/import", data);
    if (!response.ok) {
      const error = await failure(response);
      text.textContent = `${lineOf(error.path)}${error.message}`;
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

  block("Choose a CSV file first.");
})();
