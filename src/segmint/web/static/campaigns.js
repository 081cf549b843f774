// Campaigns: how a campaign's status, schedule and runs read (shared by the list, the editor and
// the campaign page), and the list page itself.
"use strict";

const STATUS_LABELS = { draft: "Draft", scheduled: "Scheduled", paused: "Paused", finished: "Finished", error: "Error" };
const RUN_STATE_LABELS = { pending: "pending", sending: "sending", done: "done", error: "error" };
const DAY_NAMES = ["Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"];

// A cell named for narrow screens, where a table.stack shows each row as a card of labelled lines.
const cell = (label, attrs, ...children) => el("td", { ...attrs, "data-label": label }, ...children);

const statusPill = (campaign) =>
  el("span", { class: `pill status-${campaign.status}` }, STATUS_LABELS[campaign.status] || campaign.status);
const runStatePill = (run) => el("span", { class: `pill run-${run.state}` }, RUN_STATE_LABELS[run.state] || run.state);

// A date-time in a time zone, e.g. "1 Dec 2026, 10:00" (the zone is named beside it).
function fmtInZone(value, zone) {
  try {
    return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: zone }).format(parseUtc(value));
  } catch (_) {  // an unknown zone: the browser's own
    return fmtDate(value);
  }
}

// "YYYY-MM-DDTHH:MM" of a UTC moment on the wall clock of `zone` (a datetime-local's value).
function wallClock(value, zone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(parseUtc(value)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

// Words for the common cron shapes ("Weekdays 10:00"); null for the others, shown as written.
function describeCron(expression) {
  const fields = String(expression || "").trim().split(/\s+/);
  if (fields.length !== 5) return null;
  const [minute, hour, day, month, weekday] = fields;
  if (!/^\d+$/.test(minute) || !/^\d+$/.test(hour) || month !== "*") return null;
  const time = `${hour.padStart(2, "0")}:${minute.padStart(2, "0")}`;
  if (day === "*" && weekday === "*") return `Daily ${time}`;
  if (day === "*" && weekday === "1-5") return `Weekdays ${time}`;
  if (day === "*" && (weekday === "0,6" || weekday === "6,0" || weekday === "6-7")) return `Weekends ${time}`;
  if (day === "*" && /^[0-7](,[0-7])*$/.test(weekday)) {
    return `${weekday.split(",").map((d) => DAY_NAMES[Number(d)]).join(", ")} ${time}`;
  }
  if (/^\d+$/.test(day) && weekday === "*") return `Monthly on day ${day} at ${time}`;
  return null;
}

function scheduleText(schedule) {
  if (schedule.kind === "once") {
    return schedule.send_at ? `Once at ${fmtInZone(schedule.send_at, schedule.timezone)} ${schedule.timezone}` : "Once (no time set)";
  }
  if (schedule.kind === "cron") return `${describeCron(schedule.cron) || `Cron ${schedule.cron}`} ${schedule.timezone}`;
  return "Manual";
}

function triggerShort(trigger) {
  const when = trigger.on === "enter" ? "entry into" : "exit from";
  const delay = trigger.delay_minutes ? ` + ${fmtNumber(trigger.delay_minutes)} min` : "";
  return `On ${when} ${segmentLabel(trigger)}${delay}`;
}

// A trigger's segment by name ("segment “Trials”"); by id only once the segment is deleted.
function segmentLabel(trigger) {
  return trigger.segment_name === null || trigger.segment_name === undefined
    ? `segment #${trigger.segment_id} (deleted)` : `segment “${trigger.segment_name}”`;
}

// "28 / 30 sent" (sent / audience) and the state; a run not frozen yet has no audience.
function lastRunText(run) {
  if (!run) return el("span", { class: "muted" }, "Never run");
  const counts = run.audience === null ? "" : `${fmtNumber(run.sent)} / ${fmtNumber(run.audience)} sent · `;
  return el("span", {}, counts, runStatePill(run), el("div", { class: "muted" }, fmtDate(run.scheduled_for)));
}

async function deleteCampaign(campaign) {
  const sure = await confirmDialog({
    title: `Delete "${campaign.name}"?`,
    lines: ["This action cannot be undone.", "Its runs and their recipient lists are deleted too; the leads and their events stay."],
    confirmLabel: "Delete",
    danger: true,
  });
  if (!sure) return false;
  try {
    await api(`/campaigns/${campaign.id}`, { method: "DELETE" });
  } catch (error) {
    toast(error.message, "error");
    return false;
  }
  return true;
}

// -- the list -----------------------------------------------------------------------------------
async function campaignsList() {
  const rows = document.getElementById("campaign-rows");
  const columns = 7;
  let result;
  try {
    result = await api("/campaigns");
  } catch (error) {
    clear(rows, el("tr", {}, el("td", { colspan: columns, class: "error" }, error.message)));
    return;
  }
  if (!result.items.length) {
    clear(rows, el("tr", {}, el("td", { colspan: columns, class: "muted" }, "No campaigns yet: create your first one.")));
    return;
  }
  clear(rows, result.items.map((c) => el("tr", { dataset: { campaign: c.id } },
    cell("", { class: "title" },
      el("a", { href: projectUrl(`/campaigns/${c.id}`), class: "one-line", title: c.name }, c.name),
      c.description ? el("div", { class: "muted two-lines", title: c.description }, c.description) : null),
    cell("Status", {}, statusPill(c),
      // A draft waiting for its mail settings is not broken: its problem reads as a to-do.
      c.problems.length ? el("div", { class: `${c.status === "error" ? "error" : "muted"} wrap problem` }, c.problems[0].message,
        c.problems.length > 1 ? ` (+${c.problems.length - 1} more)` : "") : null),
    cell("Channel", {}, c.channel === "email" ? "Email" : "Webhook"),
    cell("Schedule", {}, c.trigger ? triggerShort(c.trigger) : scheduleText(c.schedule)),
    cell("Next run", {}, c.next_run_at ? fmtInZone(c.next_run_at, c.schedule.timezone) : "–"),
    cell("Last run", {}, lastRunText(c.last_run)),
    cell("", {}, el("button", { type: "button", class: "danger", "aria-label": `Delete ${c.name}`, onclick: async () => {
      if (await deleteCampaign(c)) { toast("Campaign deleted."); campaignsList(); }
    } }, "Delete")),
  )));
}

if (document.body.dataset.page === "campaigns") campaignsList();
