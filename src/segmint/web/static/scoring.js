// Scoring: rules (add, delete) and levels with a live preview of how many leads each holds.
"use strict";

(async function scoringPage() {
  const admin = BOOT.role === "owner" || BOOT.role === "admin";
  const rulesBox = document.getElementById("rules");
  const levelsBox = document.getElementById("levels");
  let bands = [];

  const decayText = (r) => (r.decay === "halve" ? `halves every ${r.decay_days} days`
    : r.decay === "expire" ? `expires after ${r.decay_days} days` : "no decay");

  async function whereText(rule) {
    if (!rule.where) return "";
    try {
      const printed = await api("/filters/text", { method: "POST", body: { filter: { event: rule.event_type, where: rule.where } } });
      return (printed.text.match(/where \((.*)\)$/) || [null, printed.text])[1];
    } catch (_) { return JSON.stringify(rule.where); }
  }

  async function load() {
    const state = await api("/scoring");
    const rows = await Promise.all(state.rules.map(async (r) => el("tr", {},
      el("td", {}, r.event_type), el("td", { class: "num" }, fmtNumber(r.points)),
      el("td", {}, await whereText(r) || el("span", { class: "muted" }, "any")),
      el("td", { class: "num" }, r.cap === null ? "–" : fmtNumber(r.cap)), el("td", {}, decayText(r)),
      el("td", {}, admin ? el("button", { type: "button", class: "danger", "aria-label": `Delete the ${r.event_type} rule`,
        onclick: async () => { await api(`/scoring/rules/${r.id}`, { method: "DELETE" }); toast("Rule deleted: scores are being recomputed."); load(); } }, "Delete") : null))));
    clear(rulesBox, el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Event", "Points", "Where", "Cap", "Decay", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No rules yet: every score is 0."))))));
    bands = state.levels.map((b) => ({ name: b.name, min: b.min }));
    renderLevels(state.levels);
    renderFit(state);
  }

  async function renderFit(state) {
    const rows = await Promise.all(state.fit_rules.map(async (r) => {
      const printed = await api("/filters/text", { method: "POST", body: { filter: r.filter } }).catch(() => ({ text: JSON.stringify(r.filter) }));
      return el("tr", {}, el("td", {}, r.name), el("td", {}, el("code", {}, printed.text)), el("td", { class: "num" }, fmtNumber(r.points)),
        el("td", {}, admin ? el("button", { type: "button", class: "danger", "aria-label": `Delete fit rule ${r.name}`,
          onclick: async () => { await api(`/scoring/fit-rules/${r.id}`, { method: "DELETE" }); load(); } }, "Delete") : null));
    }));
    clear(document.getElementById("fit-rules"), el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Rule", "Condition", "Points", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No fit rules yet."))))));
    clear(document.getElementById("fit-levels"), el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Fit level", "From (points)", "Leads"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, state.fit_levels.map((b) => el("tr", {}, el("td", {}, b.name), el("td", {}, fmtNumber(b.min)), el("td", { class: "num" }, fmtNumber(b.count))))))));
  }

  function renderLevels(counts) {
    const byName = new Map((counts || []).map((c) => [c.name, c.count]));
    const rows = bands.map((band, i) => {
      const name = el("input", { value: band.name, "aria-label": `Level ${i + 1} name`, disabled: !admin, maxlength: 50 });
      const min = el("input", { type: "number", step: "any", value: band.min, "aria-label": `Level ${i + 1} starts at`, disabled: !admin || i === 0, style: "width:6rem" });
      name.addEventListener("input", () => { band.name = name.value; preview(); });
      min.addEventListener("input", () => { band.min = Number(min.value); preview(); });
      return el("tr", {}, el("td", {}, name), el("td", {}, min),
        el("td", { class: "num", dataset: { count: band.name } }, byName.has(band.name) ? fmtNumber(byName.get(band.name)) : "…"),
        el("td", {}, admin && i > 0 ? el("button", { type: "button", class: "link", "aria-label": `Remove level ${band.name}`,
          onclick: () => { bands.splice(i, 1); renderLevels(); preview(); } }, "Remove") : null));
    });
    clear(levelsBox, el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Level", "From (points)", "Leads", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows))));
  }

  const preview = debounce(async () => {
    const error = document.getElementById("levels-error");
    try {
      const counts = await api("/scoring/levels/preview", { method: "POST", body: { levels: bands } });
      if (error) error.textContent = "";
      counts.forEach((c, i) => {
        const cell = levelsBox.querySelectorAll("tbody tr")[i]?.children[2];
        if (cell) cell.textContent = fmtNumber(c.count);
      });
    } catch (e) { if (error) error.textContent = e.message; }
  }, 300);

  if (admin) {
    document.getElementById("add-level").addEventListener("click", () => {
      const top = bands.length ? bands[bands.length - 1].min : 0;
      bands.push({ name: "New level", min: top + 25 });
      renderLevels();
      preview();
    });
    document.getElementById("save-levels").addEventListener("click", async () => {
      try {
        await api("/scoring/levels", { method: "PUT", body: { levels: bands } });
        toast("Levels saved: every lead's level is being updated.");
        load();
      } catch (e) { document.getElementById("levels-error").textContent = e.message; }
    });
    document.getElementById("fit-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = document.getElementById("fit-error");
      error.textContent = "";
      try {
        const parsed = await api("/filters/parse", { method: "POST", body: { text: document.getElementById("fit-filter").value } });
        await api("/scoring/fit-rules", { method: "POST", body: {
          name: document.getElementById("fit-name").value.trim(), filter: parsed.filter,
          points: Number(document.getElementById("fit-points").value) } });
        event.target.reset();
        toast("Fit rule added: every lead's fit is being recomputed.");
        load();
      } catch (e) { error.textContent = e.message; }
    });
    const vocabulary = await api("/filters/vocabulary");
    document.getElementById("event-types").append(...vocabulary.event_types.map((t) => el("option", { value: t })));
    document.getElementById("rule-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = document.getElementById("rule-error");
      error.textContent = "";
      const type = document.getElementById("rule-type").value.trim();
      const whereSource = document.getElementById("rule-where").value.trim();
      const decay = document.getElementById("rule-decay").value;
      const cap = document.getElementById("rule-cap").value;
      try {
        let where = null;
        if (whereSource) {  // the text syntax of an event condition's where, parsed by the server
          const parsed = await api("/filters/parse", { method: "POST", body: { text: `performed ${JSON.stringify(type)} where (${whereSource})` } });
          where = parsed.filter.where;
        }
        await api("/scoring/rules", { method: "POST", body: {
          event_type: type, points: Number(document.getElementById("rule-points").value), where,
          cap: cap === "" ? null : Number(cap), decay, decay_days: decay === "none" ? null : Number(document.getElementById("rule-days").value) } });
        event.target.reset();
        toast("Rule added: scores are being recomputed.");
        load();
      } catch (e) { error.textContent = e.path ? `${e.path}: ${e.message}` : e.message; }
    });
  }
  load();
})();
