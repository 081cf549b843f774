// One campaign: its status and problems, its audience now, and its runs, which update live while
// one is pending or sending; a run's recipients with their delivery state.
"use strict";

const RUN_POLL_MS = 1000;
const RECIPIENTS_PAGE = 25;
const RUNS_PAGE = 20;
const isActive = (run) => run.state === "pending" || run.state === "sending";

function triggerText(trigger, pending) {
  const when = trigger.on === "enter" ? "enters" : "leaves";
  const bits = [`When a lead ${when} ${segmentLabel(trigger)}`];
  if (trigger.delay_minutes) bits.push(`after ${fmtNumber(trigger.delay_minutes)} min`);
  if (trigger.delay_minutes && trigger.only_if_still_member) bits.push(trigger.on === "enter" ? "if still in it" : "if still out of it");
  if (trigger.cap) bits.push(`at most ${fmtNumber(trigger.cap.max)} per ${fmtNumber(trigger.cap.per_days)} days`);
  return `${bits.join(", ")} · ${fmtNumber(pending)} waiting`;
}

const RUN_KINDS = { manual: "Run now", schedule: "Scheduled", trigger: "Triggered" };

function resendText(resend) {
  if (resend.policy === "every_run") return "On every run";
  if (resend.policy === "after_days") return `After ${fmtNumber(resend.after_days)} days`;
  return "Never: each lead gets it once";
}

(async function campaignPage() {
  const id = BOOT.campaign_id;
  const admin = BOOT.role === "owner" || BOOT.role === "admin";
  const $ = (name) => document.getElementById(name);
  let campaign = null;

  // -- header, problems and actions ---------------------------------------------------------------
  async function loadCampaign() {
    try {
      campaign = await api(`/campaigns/${id}`);
    } catch (error) {
      clear($("campaign-head"), el("p", { class: "error" }, error.message));
      return false;
    }
    document.title = `${campaign.name} · Segmint`;
    clear($("campaign-head"),
      el("h1", {}, campaign.name, " ", statusPill(campaign)),
      campaign.description ? el("p", { class: "muted" }, campaign.description) : null,
      el("dl", { class: "stats" },
        el("div", {}, el("dt", {}, "Channel"), el("dd", {}, campaign.channel === "email" ? "Email" : `Webhook · ${campaign.webhook_url || "no URL"}`)),
        el("div", {}, el("dt", {}, "Schedule"), el("dd", { id: "campaign-schedule" }, scheduleText(campaign.schedule))),
        campaign.trigger ? el("div", {}, el("dt", {}, "Trigger"), el("dd", { id: "campaign-trigger" },
          el("a", { href: projectUrl(`/segments/${campaign.trigger.segment_id}`) }, triggerText(campaign.trigger, campaign.pending_sends)))) : null,
        el("div", {}, el("dt", {}, "Next run"), el("dd", {}, campaign.next_run_at ? fmtInZone(campaign.next_run_at, campaign.schedule.timezone) : "–")),
        el("div", {}, el("dt", {}, "Sends a lead again"), el("dd", {}, resendText(campaign.resend))),
        el("div", {}, el("dt", {}, "Created by"), el("dd", {}, campaign.created_by_email || "–"))));
    renderProblems();
    renderActions();
    return true;
  }

  // Each problem says what to do; a targeted segment links to it, mail settings to Settings.
  function problemLink(problem) {
    const match = problem.path.match(/^targeting\.(\w+)_(segments|lists)\[(\d+)\]$/);
    if (match) {
      const target = campaign.targeting[`${match[1]}_${match[2]}`][Number(match[3])];
      if (match[2] === "segments" && !/deleted/.test(problem.message)) return el("a", { href: projectUrl(`/segments/${target}`) }, "Open the segment");
      return el("a", { href: projectUrl(`/campaigns/${id}/edit`) }, "Edit the targeting");
    }
    if (problem.path === "mail_settings") {
      return admin ? el("a", { href: projectUrl("/settings#mail") }, "Mail settings") : el("span", { class: "muted" }, "(ask an owner or admin)");
    }
    return el("a", { href: projectUrl(`/campaigns/${id}/edit`) }, "Edit the campaign");
  }

  function renderProblems() {
    $("campaign-problems").hidden = !campaign.problems.length;
    clear($("problem-list"), campaign.problems.map((p) => el("li", {}, el("span", { class: "error" }, p.message), " ", problemLink(p))));
  }

  function runBlockedReason() {
    if (campaign.problems.length) return "Run now is unavailable until the problems below are fixed.";
    if (campaign.state === "paused") return "Run now is unavailable while the campaign is paused: resume it first.";
    return null;
  }

  function renderActions() {
    const blocked = runBlockedReason();
    $("run-blocked").hidden = !blocked;
    $("run-blocked").textContent = blocked || "";
    const paused = campaign.state === "paused";
    clear($("campaign-actions"),
      el("a", { class: "button", href: projectUrl("/campaigns") }, "Back to Campaigns"),
      el("a", { class: "button", href: projectUrl(`/campaigns/${id}/edit`) }, "Edit"),
      el("button", { type: "button", class: "primary", id: "run-now", disabled: Boolean(blocked), title: blocked,
        "aria-describedby": blocked ? "run-blocked" : null, onclick: runNow }, "Run now"),
      campaign.state === "finished" ? null
        : el("button", { type: "button", onclick: () => setState(paused ? resumedState() : "paused") }, paused ? "Resume" : "Pause"),
      campaign.channel === "webhook" ? el("button", { type: "button", onclick: rotateSecret }, "Rotate secret") : null,
      el("button", { type: "button", class: "danger", onclick: remove }, "Delete"));
  }

  // A manual campaign has nothing to schedule: resumed, it is a draft again.
  const resumedState = () => (campaign.schedule.kind === "manual" ? "draft" : "scheduled");

  async function setState(state) {
    try {
      await api(`/campaigns/${id}`, { method: "PATCH", body: { state } });
      toast(state === "paused" ? "Campaign paused: nothing runs until it is resumed." : "Campaign resumed.");
      await loadCampaign();
    } catch (error) { toast(error.message, "error"); }
  }

  async function runNow() {
    const sure = await confirmDialog({
      title: `Run "${campaign.name}" now?`,
      lines: [audienceCount === null ? "It sends to its audience as it is now."
        : `It sends to the ${fmtNumber(audienceCount)} leads of its audience now.`],
      confirmLabel: "Send now",
    });
    if (!sure) return;
    $("run-now").disabled = true;
    try {
      const run = await api(`/campaigns/${id}/runs`, { method: "POST" });
      runs.unshift(run);
      renderRuns();
      toast("Run started: the audience is frozen and sending begins within moments.");
      watchRuns();
    } catch (error) { toast(error.message, "error"); }
    renderActions();
  }

  function showSecret(secret) {
    const box = $("webhook-secret");
    box.hidden = false;
    clear(box, "Signing secret (shown once, keep it safe): ", el("code", {}, secret));
  }
  async function rotateSecret() {
    try {
      showSecret((await api(`/campaigns/${id}/rotate-secret`, { method: "POST" })).webhook_secret);
      await loadCampaign();
    } catch (error) { toast(error.message, "error"); }
  }

  async function remove() {
    if (await deleteCampaign(campaign)) {
      flashNext("Campaign deleted.");
      location.assign(projectUrl("/campaigns"));
    }
  }

  // -- the audience now ---------------------------------------------------------------------------
  let audienceCount = null;  // named when asking to run now
  async function loadAudience() {
    const box = $("audience");
    try {
      const a = await api(`/campaigns/${id}/audience`);
      audienceCount = a.count;
      clear(box,
        el("dl", { class: "stats" },
          el("div", {}, el("dt", {}, "A run now would send to"), el("dd", { id: "audience-count" }, `${fmtNumber(a.count)} leads`)),
          el("div", {}, el("dt", {}, "Matching"), el("dd", {}, fmtNumber(a.matching))),
          el("div", {}, el("dt", {}, "Already sent"), el("dd", {}, fmtNumber(a.skipped.already_sent))),
          el("div", {}, el("dt", {}, "Unsubscribed"), el("dd", {}, fmtNumber(a.skipped.unsubscribed))),
          el("div", {}, el("dt", {}, "No email"), el("dd", {}, fmtNumber(a.skipped.no_email)))),
        a.sample.length ? el("ul", { class: "sample" }, a.sample.map((lead) => el("li", {},
          el("a", { href: projectUrl(`/leads/${lead.id}`) }, leadName(lead)),
          el("span", { class: "muted" }, ` · ${lead.email || "no email"}`)))) : null,
        el("p", { class: "muted" }, `Evaluated ${fmtDate(a.evaluated_at)}`));
    } catch (error) { clear(box, el("p", { class: "error" }, error.message)); }
  }

  // -- runs, live while one is pending or sending -------------------------------------------------
  const runs = [];  // newest first
  let nextBefore = null;
  let polling = null;
  let selected = null;  // the run whose recipients are shown

  async function loadRuns() {
    const params = new URLSearchParams({ limit: RUNS_PAGE });
    if (nextBefore !== null) params.set("before", nextBefore);
    try {
      const page = await api(`/campaigns/${id}/runs?${params}`);
      runs.push(...page.items);
      nextBefore = page.next_before;
    } catch (error) {
      clear($("runs"), el("p", { class: "error" }, error.message));
      return;
    }
    renderRuns();
    watchRuns();
  }

  const count = (label, value, attrs = {}) =>
    cell(label, { ...attrs, class: `num ${attrs.class || ""}`.trim() }, value === null ? "–" : fmtNumber(value));
  function runRow(run) {
    const retry = run.consecutive_failures && run.next_attempt_at
      ? el("div", { class: "warn wrap" }, `Retrying at ${fmtDate(run.next_attempt_at)} (${run.consecutive_failures} failed attempts)`) : null;
    return el("tr", { dataset: { run: run.id }, class: selected === run.id ? "selected" : null },
      cell("", { class: "title" }, `#${run.id} `, el("span", { class: "muted" }, RUN_KINDS[run.kind] || run.kind)),
      cell("When", {}, fmtDate(run.scheduled_for)),
      cell("State", { class: "run-state" }, runStatePill(run), run.error ? el("div", { class: "error wrap" }, run.error) : null, retry),
      count("Audience", run.audience),
      count("Sent", run.sent, { class: "run-sent" }),
      count("Already sent", run.skipped_already_sent),
      count("Unsubscribed", run.skipped_unsubscribed),
      count("No email", run.skipped_no_email),
      count("Capped or left", run.skipped_capped === null ? null : run.skipped_capped + run.skipped_membership),
      count("Failed", run.failed),
      count("Unconfirmed", run.unconfirmed),
      count("Queued", run.queued),
      cell("", {}, el("button", { type: "button", "aria-label": `Recipients of run ${run.id}`,
        disabled: run.audience === null, onclick: () => showRecipients(run.id) }, "Recipients")));
  }

  function renderRuns() {
    const box = $("runs");
    if (!runs.length) {
      clear(box, el("p", { class: "muted card" }, "No runs yet."));
      return;
    }
    const heads = ["Run", "When", "State", "Audience", "Sent", "Already sent", "Unsubscribed", "No email", "Capped or left", "Failed", "Unconfirmed", "Queued", ""];
    const numeric = new Set([3, 4, 5, 6, 7, 8, 9, 10, 11]);
    clear(box,
      el("div", { class: "table-wrap" }, el("table", { class: "runs stack" },
        el("thead", {}, el("tr", {}, heads.map((h, i) => el("th", { scope: "col", class: numeric.has(i) ? "num" : null }, h)))),
        el("tbody", { id: "run-rows" }, runs.map(runRow)))),
      nextBefore !== null ? el("button", { type: "button", onclick: loadRuns }, "Show older runs") : null);
  }

  function watchRuns() {
    clearTimeout(polling);
    polling = runs.some(isActive) ? setTimeout(pollRuns, RUN_POLL_MS) : null;
  }

  async function pollRuns() {
    const active = runs.filter(isActive);
    let finished = false;
    try {
      const fresh = await Promise.all(active.map((run) => api(`/campaigns/${id}/runs/${run.id}`)));
      for (const run of fresh) {
        const i = runs.findIndex((r) => r.id === run.id);
        const changed = JSON.stringify(runs[i]) !== JSON.stringify(run);
        runs[i] = run;
        if (!isActive(run)) finished = true;
        if (changed && run.id === selected && recipientPages === 1) loadRecipients(true);
      }
    } catch (error) {
      toast(error.message, "error");  // keep polling: a restarting server comes back
    }
    renderRuns();
    if (finished) {  // the header's last run and the audience's "already sent" have moved
      await loadCampaign();
      loadAudience();
    }
    watchRuns();
  }

  // -- a run's recipients, paged by id ------------------------------------------------------------
  const stateFilter = $("recipient-state");
  let recipientAfter = null;
  let recipientPages = 0;
  const recipientRows = el("tbody", { id: "recipient-rows" });
  const more = el("button", { type: "button", onclick: () => loadRecipients(false) }, "Load more");
  const recipientInfo = el("p", { class: "muted" });
  clear($("recipients"),
    el("div", { class: "table-wrap" }, el("table", { class: "stack" },
      el("thead", {}, el("tr", {}, ["Lead", "Email", "State", "Attempts", "Last error", "Sent", "Next attempt"]
        .map((h, i) => el("th", { scope: "col", class: i === 3 ? "num" : null }, h)))),
      recipientRows)),
    el("div", { class: "pager" }, more, recipientInfo));

  function showRecipients(runId) {
    selected = runId;
    renderRuns();
    $("recipients-section").hidden = false;
    $("recipients-title").textContent = `Recipients of run #${runId}`;
    loadRecipients(true).then(() => $("recipients-section").scrollIntoView({ block: "start" }));
  }

  let recipientTicket = 0;  // a reload started later wins over an older one still in flight
  async function loadRecipients(reset) {
    const ticket = ++recipientTicket;
    const params = new URLSearchParams({ limit: RECIPIENTS_PAGE });
    if (stateFilter.value) params.set("state", stateFilter.value);
    if (!reset && recipientAfter !== null) params.set("after", recipientAfter);
    let page;
    try {
      page = await api(`/campaigns/${id}/runs/${selected}/recipients?${params}`);
    } catch (error) {
      recipientInfo.textContent = error.message;
      return;
    }
    if (ticket !== recipientTicket) return;
    if (reset) {
      recipientRows.replaceChildren();
      recipientPages = 0;
    }
    recipientPages += 1;
    recipientRows.append(...page.items.map((r) => el("tr", {},
      cell("", { class: "title" }, el("a", { href: projectUrl(`/leads/${r.lead_id}`) }, r.name || `Lead ${r.lead_id}`)),
      cell("Email", {}, r.email || "–"),
      cell("State", {}, el("span", { class: `pill recipient-${r.state}` }, r.state)),
      cell("Attempts", { class: "num" }, fmtNumber(r.attempts)),
      cell("Last error", { class: "wrap" }, r.last_error || "–"),
      cell("Sent", {}, fmtDate(r.sent_at)),
      cell("Next attempt", {}, fmtDate(r.next_attempt_at)))));
    if (!recipientRows.children.length) {
      recipientRows.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No recipient in this state.")));
    }
    recipientAfter = page.next_after;
    more.hidden = page.next_after === null;
    recipientInfo.textContent = `${fmtNumber(recipientRows.querySelectorAll("a").length)} shown`;
  }
  stateFilter.addEventListener("change", () => loadRecipients(true));

  const secret = sessionStorage.getItem("segmint-webhook-secret");
  if (secret) {
    sessionStorage.removeItem("segmint-webhook-secret");
    showSecret(secret);
  }
  if (await loadCampaign()) {
    loadAudience();
    loadRuns();
  }
})();
