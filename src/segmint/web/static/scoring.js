// Scoring: rules (add, delete) and levels with a live preview of how many leads each holds.
"use strict";

(async function scoringPage() {
  const admin = BOOT.role === "owner" || BOOT.role === "admin";
  const rulesBox = document.getElementById("rules");
  let polling = null;

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
      el("td", { class: "wrap" }, r.event_type), el("td", { class: "num" }, fmtNumber(r.points)),
      el("td", { class: "wrap" }, await whereText(r) || el("span", { class: "muted" }, "any")),
      el("td", { class: "num" }, r.cap === null ? "–" : fmtNumber(r.cap)), el("td", {}, decayText(r)),
      el("td", {}, admin ? el("button", { type: "button", class: "danger", "aria-label": `Delete the ${r.event_type} rule`,
        onclick: async () => { await api(`/scoring/rules/${r.id}`, { method: "DELETE" }); toast("Rule deleted: scores are being recomputed."); load(); } }, "Delete") : null))));
    clear(rulesBox, el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Event", "Points", "Where", "Cap", "Decay", ""].map(headerCell))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No rules yet: every score is 0."))))));
    levelsEditor(document.getElementById("levels"), {
      label: "Level", bands: state.levels, unleveled: state.unleveled, previewPath: "/scoring/levels/preview", savePath: "/scoring/levels",
      saved: "Levels saved: every lead's level is being updated." });
    renderFit(state);
    document.getElementById("account-rollup").value = state.account_rollup;
    watch(state.rescoring);
  }

  // Leads holding no level match no "level is …" condition: the page says so, not a count
  // that the filters would not find.
  function unleveledNote(label, count) {
    if (!count) return null;
    const leads = count === 1 ? "1 lead has" : `${fmtNumber(count)} leads have`;
    return el("p", { class: "muted unleveled" }, `${leads} none of these ${label.toLowerCase()}s yet (not scored yet, or imported with another): the next rescore gives them one.`);
  }

  // While every lead is being rescored, a live status; the counts are reloaded when done.
  function watch(rescoring) {
    document.getElementById("rescore-status").hidden = !rescoring;
    clearTimeout(polling);
    if (!rescoring) return;
    polling = setTimeout(async () => {
      const state = await api("/scoring");
      if (state.rescoring) watch(true);
      else load();
    }, 2000);
  }

  // Bands (name, from), saved as a whole. The counts are the leads holding each level now (what
  // a filter on the level matches); while bands are edited, the leads each would hold.
  function levelsEditor(mount, { label, bands: given, unleveled, previewPath, savePath, saved }) {
    const bands = given.map((b) => ({ name: b.name, min: b.min }));
    const countCells = [];
    const error = el("p", { class: "field-error", role: "alert" });
    const preview = debounce(async () => {
      try {
        const counts = await api(previewPath, { method: "POST", body: { levels: bands } });
        error.textContent = "";
        counts.forEach((c, i) => { if (countCells[i]) countCells[i].textContent = fmtNumber(c.count); });
      } catch (e) { error.textContent = e.message; }
    }, 300);
    function render() {
      countCells.length = 0;
      const rows = bands.map((band, i) => {
        const name = el("input", { value: band.name, "aria-label": `${label} ${i + 1} name`, disabled: !admin, maxlength: 50 });
        const min = el("input", { type: "number", step: "any", value: band.min, "aria-label": `${label} ${i + 1} starts at`, disabled: !admin || i === 0, style: "width:6rem" });
        name.addEventListener("input", () => { band.name = name.value; preview(); });
        min.addEventListener("input", () => { band.min = Number(min.value); preview(); });
        const count = el("td", { class: "num" }, given[i] && given[i].name === band.name && "count" in given[i] ? fmtNumber(given[i].count) : "…");
        countCells.push(count);
        return el("tr", {}, el("td", {}, name), el("td", {}, min), count,
          el("td", {}, admin && i > 0 ? el("button", { type: "button", class: "link", "aria-label": `Remove ${label.toLowerCase()} ${band.name}`,
            onclick: () => { bands.splice(i, 1); render(); preview(); } }, "Remove") : null));
      });
      const buttons = admin ? el("div", { class: "toolbar", style: "margin-top:0.5rem" },
        el("button", { type: "button", onclick: () => {
          const top = bands.length ? bands[bands.length - 1].min : 0;
          bands.push({ name: `New ${label.toLowerCase()}`, min: top + 25 });
          render();
          preview();
        } }, `+ ${label}`),
        el("button", { type: "button", class: "primary", onclick: async () => {
          try {
            await api(savePath, { method: "PUT", body: { levels: bands } });
            toast(saved);
            load();
          } catch (e) { error.textContent = e.message; }
        } }, `Save ${label.toLowerCase()}s`)) : null;
      clear(mount, el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, [label, "From (points)", "Leads", ""].map(headerCell))),
        el("tbody", {}, rows))), unleveledNote(label, unleveled), buttons, error);
    }
    render();
  }

  async function renderFit(state) {
    const rows = await Promise.all(state.fit_rules.map(async (r) => {
      const printed = await api("/filters/text", { method: "POST", body: { filter: r.filter } }).catch(() => ({ text: JSON.stringify(r.filter) }));
      // Names and conditions wrap: long ones would otherwise push the points and button out of sight.
      return el("tr", {}, el("td", { class: "wrap" }, r.name), el("td", { class: "wrap" }, el("code", {}, printed.text)), el("td", { class: "num" }, fmtNumber(r.points)),
        el("td", {}, admin ? el("button", { type: "button", class: "danger", "aria-label": `Delete fit rule ${r.name}`,
          onclick: async () => { await api(`/scoring/fit-rules/${r.id}`, { method: "DELETE" }); load(); } }, "Delete") : null));
    }));
    clear(document.getElementById("fit-rules"), el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Rule", "Condition", "Points", ""].map(headerCell))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No fit rules yet."))))));
    levelsEditor(document.getElementById("fit-levels"), {
      label: "Fit level", bands: state.fit_levels, unleveled: state.fit_unleveled, previewPath: "/scoring/fit-levels/preview", savePath: "/scoring/fit-levels",
      saved: "Fit levels saved: every lead's fit is being updated." });
  }

  if (admin) {
    document.getElementById("account-rollup").addEventListener("change", async (event) => {
      try {
        await api("/scoring/account-rollup", { method: "PUT", body: { account_rollup: event.target.value } });
        toast("Accounts are being recomputed.");
        load();
      } catch (e) { toast(e.message, "error"); }
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
    // The event types' suggestions come when they come: awaited here, they held back the
    // submit handler (a quick "Add rule" then reloaded the page and lost the rule) and load().
    api("/filters/vocabulary").then((vocabulary) => {
      document.getElementById("event-types").append(...vocabulary.event_types.map((t) => el("option", { value: t })));
    }, () => {});
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
