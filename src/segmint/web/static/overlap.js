// The Overlap page: two to four segments and lists, and how many leads fall in each region where
// they meet, drawn as an UpSet picture (one bar per region over a matrix of which sets it is in)
// and listed in a table; every region links to the Leads page filtered to exactly its leads.
"use strict";

const MIN_AUDIENCES = 2;
const MAX_AUDIENCES = 4;
const compactNumber = new Intl.NumberFormat(undefined, { notation: "compact" });

// ?segments=1,2&lists=3 -> ["segment:1", "segment:2", "list:3"]
function chosenInAddress() {
  const params = new URLSearchParams(location.search);
  const ids = (name) => (params.get(name) || "").split(",").map((v) => v.trim()).filter((v) => /^\d+$/.test(v));
  return [...ids("segments").map((id) => `segment:${id}`), ...ids("lists").map((id) => `list:${id}`)];
}

function addressOf(chosen) {
  const ids = (kind) => chosen.filter((c) => c.startsWith(`${kind}:`)).map((c) => c.split(":")[1]).join(",");
  const params = new URLSearchParams();
  if (ids("segment")) params.set("segments", ids("segment"));
  if (ids("list")) params.set("lists", ids("list"));
  return `${location.pathname}?${params}`;
}

const leadsOf = (filter) => projectUrl(`/leads?${new URLSearchParams({ filter: JSON.stringify(filter) })}`);

// "Only in Hot", "In Hot and Webinar, not in Big", "In both Hot and Webinar": a region in words.
function regionWords(region, sets) {
  const name = (s) => `“${s.name}”`;
  const inside = sets.filter((s) => region.sets.includes(s.key)).map(name);
  const outside = sets.filter((s) => !region.sets.includes(s.key)).map(name);
  const joined = (names, word) => (names.length > 1 ? `${names.slice(0, -1).join(", ")} ${word} ${names.at(-1)}` : names[0]);
  if (inside.length === 1) return `Only in ${inside[0]}`;
  if (!outside.length) return inside.length === 2 ? `In both ${inside[0]} and ${inside[1]}` : `In all of ${joined(inside, "and")}`;
  return `In ${joined(inside, "and")}, not in ${joined(outside, "or")}`;
}

const setKeys = (region) => el("span", { class: "set-keys", "aria-hidden": "true" }, region.sets.join(" ∩ "));

// -- the picture ------------------------------------------------------------------------------
const COLUMN = 34, LEFT = 28, TOP = 18, BARS = 110, ROW = 22;

function upsetPicture(result) {
  const { sets, regions } = result;
  const width = LEFT + regions.length * COLUMN + 4;
  const matrixTop = TOP + BARS + 10;
  const height = matrixTop + sets.length * ROW + 4;
  const most = Math.max(1, ...regions.map((r) => r.count));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "upset", role: "group",
    "aria-label": "Overlap: one bar per region, the dots below say which sets it is in" });
  root.style.maxWidth = `${Math.round(width * 1.5)}px`;  // a picture of two sets stays small
  sets.forEach((s, row) => {
    const y = matrixTop + row * ROW;
    if (row % 2 === 0) root.append(svg("rect", { x: 0, y, width, height: ROW, class: "stripe" }));
    root.append(svg("text", { x: 6, y: y + ROW / 2 + 5, class: "set-key" }, s.key));
  });
  regions.forEach((region, at) => root.append(regionColumn(region, at, sets, most, matrixTop)));
  return root;
}

function regionColumn(region, at, sets, most, matrixTop) {
  const x = LEFT + at * COLUMN;
  const middle = x + COLUMN / 2;
  const tall = region.count ? Math.max(2, (region.count / most) * BARS) : 0;
  const words = `${regionWords(region, sets)}: ${fmtNumber(region.count)} leads`;
  const link = svg("a", { href: leadsOf(region.filter), class: "region", "aria-label": words, "data-sets": region.sets.join("") },
    svg("title", {}, words),
    svg("rect", { x, y: 0, width: COLUMN, height: matrixTop + sets.length * ROW, class: "hit" }),
    svg("rect", { x: x + 6, y: TOP + BARS - tall, width: COLUMN - 12, height: tall, class: "bar" }),
    svg("text", { x: middle, y: TOP + BARS - tall - 4, "text-anchor": "middle", class: "count" }, compactNumber.format(region.count)));
  const rows = sets.map((s, row) => ({ inside: region.sets.includes(s.key), y: matrixTop + row * ROW + ROW / 2 }));
  const inside = rows.filter((r) => r.inside);
  if (inside.length > 1) link.append(svg("line", { x1: middle, x2: middle, y1: inside[0].y, y2: inside.at(-1).y, class: "joint" }));
  for (const r of rows) link.append(svg("circle", { cx: middle, cy: r.y, r: 6, class: r.inside ? "dot in" : "dot" }));
  return link;
}

// -- the tables -------------------------------------------------------------------------------
function setsTable(sets) {
  const page = (s) => projectUrl(s.kind === "segment" ? `/segments/${s.id}` : `/lists/${s.id}`);
  return el("div", { class: "table-wrap" }, el("table", { class: "stack overlap-sets" },
    el("caption", { class: "sr-only" }, "The sets compared"),
    el("thead", {}, el("tr", {}, headerCell("Set"), headerCell("Name"), headerCell("Kind"), el("th", { scope: "col", class: "num" }, "Leads"))),
    el("tbody", {}, sets.map((s) => el("tr", {},
      el("td", { "data-label": "Set" }, el("strong", {}, s.key)),
      el("td", { class: "title", "data-label": "" }, s.kind === "segment" ? badge(s.color) : null,
        el("a", { href: page(s), class: "one-line", title: s.name }, s.name)),
      el("td", { "data-label": "Kind" }, s.kind === "list" ? "List" : s.active ? "Segment" : "Segment (inactive)"),
      el("td", { class: "num", "data-label": "Leads" }, el("a", { href: leadsOf(s.filter), "aria-label": `${fmtNumber(s.count)} leads in “${s.name}”` }, fmtNumber(s.count))))))));
}

function regionsTable(title, rows, sets, describe) {
  return el("div", { class: "table-wrap" }, el("table", { class: "stack overlap-regions" },
    el("caption", {}, title),
    el("thead", {}, el("tr", {}, headerCell("Sets"), headerCell("Leads who are"), el("th", { scope: "col", class: "num" }, "Leads"))),
    el("tbody", {}, rows.map((region) => el("tr", {},
      el("td", { "data-label": "Sets" }, setKeys(region), el("span", { class: "sr-only" }, region.sets.join(" and "))),
      el("td", { class: "wrap-anywhere", "data-label": "" }, describe(region)),
      el("td", { class: "num", "data-label": "Leads" },
        el("a", { href: leadsOf(region.filter), "aria-label": `${fmtNumber(region.count)} leads: ${describe(region)}` }, fmtNumber(region.count))))))));
}

const badge = (color) => el("span", { class: "badge", style: `background:${color || "#9ca3af"}`, "aria-hidden": "true" });

function showResult(box, result) {
  const pairsInWords = (pair) => {
    const [a, b] = pair.sets.map((key) => result.sets.find((s) => s.key === key).name);
    return `In both “${a}” and “${b}”, whatever else`;
  };
  const inactive = result.sets.some((s) => !s.active);
  clear(box,
    el("section", { class: "card", "aria-labelledby": "overlap-title" },
      el("h2", { id: "overlap-title" }, "Regions"),
      el("p", { class: "muted" }, `${fmtNumber(result.union)} leads are in at least one of them. Choose a bar to see its leads.`),
      upsetPicture(result),
      inactive ? el("p", { class: "muted" }, "An inactive segment is compared by its conditions now, as “in segment” reads it in a filter, not by the members it kept.") : null),
    setsTable(result.sets),
    regionsTable("Each region", result.regions, result.sets, (r) => regionWords(r, result.sets)),
    result.sets.length > 2 ? regionsTable("Each pair", result.pairs, result.sets, pairsInWords) : null);
}

// -- the pickers ------------------------------------------------------------------------------
function audienceSelect(index, options, value) {
  const id = `audience-${index}`;
  const select = el("select", { id, name: "audience" },
    el("option", { value: "" }, "Choose a segment or list"),
    options.map(([label, items]) => items.length ? el("optgroup", { label }, items.map(([v, text]) => el("option", { value: v, selected: v === value }, text))) : null));
  return { select, label: el("label", { for: id }, `Segment or list ${index + 1}`) };
}

async function overlapPage() {
  const pickers = document.getElementById("overlap-pickers");
  const add = document.getElementById("add-audience");
  const problem = document.getElementById("overlap-problem");
  const resultBox = document.getElementById("overlap-result");
  let options;
  try {
    const scope = BOOT.role === "member" ? "mine" : "all";
    const [segments, lists] = await Promise.all([api(`/segments?scope=${scope}`), api("/lists")]);
    options = [["Segments", segments.items.map((s) => [`segment:${s.id}`, s.name])],
      ["Lists", lists.items.map((l) => [`list:${l.id}`, l.name])]];
  } catch (error) { problem.textContent = error.message; return; }

  let chosen = chosenInAddress().slice(0, MAX_AUDIENCES);
  while (chosen.length < MIN_AUDIENCES) chosen.push("");
  function drawPickers() {
    clear(pickers, chosen.map((value, index) => {
      const { select, label } = audienceSelect(index, options, value);
      select.addEventListener("change", () => { chosen[index] = select.value; });
      const remove = chosen.length > MIN_AUDIENCES ? el("button", { type: "button", class: "link", "aria-label": `Remove segment or list ${index + 1}`,
        onclick: () => { chosen.splice(index, 1); drawPickers(); } }, "Remove") : null;
      return el("div", { class: "overlap-picker" }, label, select, remove);
    }));
    add.disabled = chosen.length >= MAX_AUDIENCES;
  }
  add.addEventListener("click", () => {
    chosen.push("");
    drawPickers();
    pickers.querySelectorAll("select")[chosen.length - 1].focus();
  });

  async function compare() {
    problem.textContent = "";
    const picked = chosen.filter(Boolean);
    if (picked.length < MIN_AUDIENCES) { problem.textContent = "Choose at least two segments or lists."; return; }
    if (new Set(picked).size < picked.length) { problem.textContent = "A segment or list is chosen twice: choose different ones."; return; }
    const ids = (kind) => picked.filter((c) => c.startsWith(`${kind}:`)).map((c) => Number(c.split(":")[1]));
    history.replaceState(null, "", addressOf(picked));
    clear(resultBox, el("p", { class: "muted" }, "Counting…"));
    try {
      showResult(resultBox, await api("/overlap", { method: "POST", body: { segments: ids("segment"), lists: ids("list") } }));
    } catch (error) { clear(resultBox); problem.textContent = error.message; }
  }
  document.getElementById("overlap-form").addEventListener("submit", (event) => { event.preventDefault(); compare(); });
  drawPickers();
  if (chosen.filter(Boolean).length >= MIN_AUDIENCES) compare();
}

if (document.body.dataset.page === "overlap") overlapPage();
