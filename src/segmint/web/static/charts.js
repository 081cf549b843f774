// Small SVG charts for the analytics panel: no library, just the days we are given.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

const W = 600, H = 200, PAD = 30;
const shortDay = (d) => d.slice(5);  // MM-DD

function frame(days, title) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  root.append(svg("line", { class: "axis", x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD }));
  const step = Math.max(1, Math.ceil(days.length / 6));
  days.forEach((d, i) => {
    if (i % step) return;
    const x = PAD + (i * (W - 2 * PAD)) / Math.max(1, days.length - 1);
    root.append(svg("text", { x, y: H - PAD + 14, "text-anchor": "middle" }, shortDay(d.day)));
  });
  return root;
}

// One or two series over the days, each scaled to its own maximum (labelled at the top).
function lineChart(days, series) {
  const root = frame(days, series.map((s) => s.label).join(" and ") + " per day");
  series.forEach((s) => {
    const values = days.map((d) => d[s.key]);
    const max = Math.max(1, ...values.filter((v) => v !== null));
    const points = values.map((v, i) => {
      if (v === null) return null;
      const x = PAD + (i * (W - 2 * PAD)) / Math.max(1, days.length - 1);
      const y = H - PAD - (v / max) * (H - 2 * PAD);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    }).filter(Boolean);
    root.append(svg("polyline", { class: s.second ? "line second" : "line", points: points.join(" ") }));
    const label = `${s.label}: max ${fmtNumber(Math.round(max * 10) / 10)}`;
    root.append(svg("text", { x: s.second ? W - PAD : PAD, y: 12, "text-anchor": s.second ? "end" : "start" }, label));
  });
  return el("div", {}, root, el("div", { class: "legend" },
    series.map((s) => el("span", { style: `--c:${s.second ? "#f59e0b" : "#4f46e5"}` }, s.label))));
}

// Entered (up, green) and exited (down, red) per day.
function barChart(days, what = "Leads") {
  const root = frame(days, `${what} entered and exited per day`);
  const max = Math.max(1, ...days.map((d) => Math.max(d.entered, d.exited)));
  const mid = (H - PAD + PAD) / 2;
  const width = Math.max(2, (W - 2 * PAD) / Math.max(1, days.length) - 2);
  days.forEach((d, i) => {
    const x = PAD + (i * (W - 2 * PAD)) / Math.max(1, days.length - 1) - width / 2;
    const up = (d.entered / max) * (mid - PAD);
    const down = (d.exited / max) * (H - PAD - mid);
    const inBar = svg("rect", { class: "bar-in", x, y: mid - up, width, height: up });
    inBar.append(svg("title", {}, `${d.day}: ${d.entered} entered`));
    const outBar = svg("rect", { class: "bar-out", x, y: mid, width, height: down });
    outBar.append(svg("title", {}, `${d.day}: ${d.exited} exited`));
    root.append(inBar, outBar);
  });
  root.append(svg("line", { class: "axis", x1: PAD, y1: mid, x2: W - PAD, y2: mid }));
  return el("div", {}, root, el("div", { class: "legend" },
    el("span", { style: "--c:#10b981" }, "Entered"), el("span", { style: "--c:#ef4444" }, "Exited")));
}
