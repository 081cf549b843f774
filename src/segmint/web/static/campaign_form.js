// Creating and editing a campaign: targeting with a live audience, the message with a preview
// rendered for a real lead, the schedule and the resend policy. Errors from the API name a JSON
// path; each is shown at the field that path points to.
"use strict";

const TARGETS = [
  { key: "include_segments", mount: "include-segments", kind: "segment" },
  { key: "exclude_segments", mount: "exclude-segments", kind: "segment" },
  { key: "include_lists", mount: "include-lists", kind: "list" },
  { key: "exclude_lists", mount: "exclude-lists", kind: "list" },
];

// -- field errors ---------------------------------------------------------------------------------
function clearFieldErrors(scope, prefix = "") {
  scope.querySelectorAll("[data-path]").forEach((box) => {
    if (!box.dataset.path.startsWith(prefix)) return;
    const message = box.querySelector(":scope > .field-error");
    if (message) message.textContent = "";
    box.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  });
}

// Shows `message` in the [data-path] box whose path is the longest prefix of `path`; returns it.
function showFieldError(scope, path, message) {
  let best = null;
  scope.querySelectorAll("[data-path]").forEach((box) => {
    const p = box.dataset.path;
    const fits = path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`);
    if (fits && (!best || p.length > best.dataset.path.length)) best = box;
  });
  if (!best) return null;
  const text = best.querySelector(":scope > .field-error");
  if (text) text.textContent = message;
  best.querySelector("input:not([type=radio]):not([type=checkbox]), select, textarea")?.setAttribute("aria-invalid", "true");
  return best;
}

// -- loading --------------------------------------------------------------------------------------
// Owners and admins pick from every segment; a member's own come first, the others by name only.
async function targetableSegments(vocabulary) {
  let listed;
  try {
    listed = (await api("/segments?scope=all")).items;
  } catch (error) {
    if (error.status !== 403) throw error;
    listed = (await api("/segments?scope=mine")).items;
  }
  const known = new Set(listed.map((s) => s.id));
  return [...listed, ...vocabulary.segments.filter((s) => !known.has(s.id)).map((s) => ({ ...s, member_count: null, active: true }))];
}

function timeZones() {
  try { return Intl.supportedValuesOf("timeZone"); } catch (_) { return []; }
}

(async function campaignForm() {
  const id = BOOT.campaign_id;
  const $ = (name) => document.getElementById(name);
  const form = $("campaign-form");
  const formError = $("form-error");
  let campaign = null;
  let vocabulary;
  let segments;
  let lists;
  let settings;
  try {
    vocabulary = await api("/filters/vocabulary");
    [segments, lists, settings, campaign] = await Promise.all([
      targetableSegments(vocabulary),
      api("/lists").then((r) => r.items),
      api("/settings"),
      id ? api(`/campaigns/${id}`) : null,
    ]);
  } catch (error) {
    formError.textContent = error.message;
    return;
  }

  // The chosen ids, in the order chosen: an error's path (include_segments[1]) indexes them.
  const targeting = {
    include_segments: [...(campaign?.targeting.include_segments || [])],
    exclude_segments: [...(campaign?.targeting.exclude_segments || [])],
    include_lists: [...(campaign?.targeting.include_lists || [])],
    exclude_lists: [...(campaign?.targeting.exclude_lists || [])],
  };
  const nameOf = (kind, targetId) =>
    (kind === "segment" ? segments : lists).find((o) => o.id === targetId)?.name || `${kind} ${targetId} (deleted)`;

  // -- details and targeting ----------------------------------------------------------------------
  const name = $("campaign-name");
  const description = $("campaign-description");
  if (campaign) {
    name.value = campaign.name;
    description.value = campaign.description;
    document.title = `Edit ${campaign.name} · Segmint`;
  }

  function choiceLabel(kind, option) {
    const bits = [];
    if (option.member_count !== null && option.member_count !== undefined) bits.push(`${fmtNumber(option.member_count)} leads`);
    if (kind === "segment" && option.active === false) bits.push("inactive");
    if (option.deleted) bits.push("deleted");
    return bits.length ? ` (${bits.join(", ")})` : "";
  }

  function renderChoices({ key, mount, kind }) {
    const options = [...(kind === "segment" ? segments : lists)];
    // A target that no longer exists stays visible (and chosen) until it is unticked.
    for (const chosen of targeting[key]) {
      if (!options.some((o) => o.id === chosen)) options.push({ id: chosen, name: `${kind} ${chosen}`, deleted: true });
    }
    const box = $(mount);
    if (!options.length) {
      clear(box, el("p", { class: "muted" }, kind === "segment" ? "No segments yet." : "No lists yet."));
      return;
    }
    clear(box, options.map((option) => {
      const input = el("input", { type: "checkbox", value: option.id, checked: targeting[key].includes(option.id) });
      input.addEventListener("change", () => {
        const ids = targeting[key].filter((v) => v !== option.id);
        if (input.checked) ids.push(option.id);
        targeting[key] = ids;
        audienceChanged();
      });
      return el("label", { class: option.active === false || option.deleted ? "choice off" : "choice" },
        input, ` ${option.name}`, el("span", { class: "muted" }, choiceLabel(kind, option)));
    }));
  }
  TARGETS.forEach(renderChoices);

  const extra = $("extra-filter");
  const builder = createBuilder({
    mount: $("builder"),
    vocabulary,
    initial: campaign?.targeting.filter || { and: [] },
    onChange: () => audienceChanged(),
  });
  if (campaign?.targeting.filter) extra.open = true;
  // An empty root group means "no extra filter" (the filter language itself needs a condition).
  function extraFilter() {
    const filter = builder.filter();
    const group = filter.and || filter.or;
    return group && group.length === 0 && !filter.not ? null : filter;
  }
  const targetingBody = () => ({ ...targeting, filter: extraFilter() });

  // -- the live audience --------------------------------------------------------------------------
  const count = $("audience-count");
  const detail = $("audience-detail");
  const problems = $("audience-problems");
  const sample = $("audience-sample");
  let audienceRequest = null;
  let sampleLeads = [];

  async function updateAudience() {
    audienceRequest?.abort();
    audienceRequest = new AbortController();
    clearFieldErrors(form, "targeting");
    builder.clearErrors();
    if (!targeting.include_segments.length && !targeting.include_lists.length) {
      count.textContent = "Include a segment or a list to see the audience";
      clear(detail);
      clear(problems);
      clear(sample);
      return;
    }
    count.textContent = "Counting…";
    let result;
    try {
      result = await api("/campaigns/preview", {
        method: "POST",
        body: { targeting: targetingBody(), channel: channel(), campaign_id: id || null, resend: resendBody() },
        signal: audienceRequest.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      count.textContent = "Fix the targeting to see the audience";
      clear(detail, error.message);
      showTargetingError(error);
      return;
    }
    count.textContent = `${fmtNumber(result.count)} ${result.count === 1 ? "lead" : "leads"} will get it`;
    const s = result.skipped;
    clear(detail, `${fmtNumber(result.matching)} match · skipped: ${fmtNumber(s.already_sent)} already sent, `
      + `${fmtNumber(s.unsubscribed)} unsubscribed, ${fmtNumber(s.no_email)} without email`);
    clear(problems, result.problems.map((p) => el("li", { class: "error" }, p.message)));
    sampleLeads = result.sample;
    clear(sample, result.sample.map((lead) => el("li", {},
      el("a", { href: projectUrl(`/leads/${lead.id}`) }, leadName(lead)),
      el("span", { class: "muted" }, ` · ${[lead.email, lead.company].filter(Boolean).join(" · ")}`))));
    renderLeadChoices();
  }
  const audienceChanged = debounce(updateAudience, 300);

  function showTargetingError(error) {
    if (!error.path) return;
    if (error.path.startsWith("targeting.filter")) {
      extra.open = true;
      builder.showError(error.path.slice("targeting.".length), error.message);
      return;
    }
    // targeting.include_segments[1]: name the segment the index points to.
    const match = error.path.match(/^targeting\.(\w+)\[(\d+)\]/);
    const target = match && TARGETS.find((t) => t.key === match[1]);
    const picked = target ? targeting[target.key][Number(match[2])] : undefined;
    const message = picked === undefined ? error.message : `${nameOf(target.kind, picked)}: ${error.message}`;
    showFieldError(form, error.path, message);
  }

  // -- the message and its preview ----------------------------------------------------------------
  const subject = $("campaign-subject");
  const body = $("campaign-body");
  const webhook = $("campaign-webhook");
  const channelInputs = [...form.querySelectorAll("input[name=channel]")];
  const channel = () => channelInputs.find((i) => i.checked).value;
  if (campaign) {
    subject.value = campaign.subject;
    body.value = campaign.body;
    webhook.value = campaign.webhook_url || "";
    channelInputs.forEach((i) => { i.checked = i.value === campaign.channel; });
    if (campaign.webhook_secret_hint) {
      $("webhook-help").append(" Signed with ", el("code", {}, campaign.webhook_secret_hint), " (rotate it on the campaign's page).");
    }
  }
  function showChannel() {
    $("email-fields").hidden = channel() !== "email";
    $("webhook-fields").hidden = channel() !== "webhook";
  }
  channelInputs.forEach((i) => i.addEventListener("change", () => { showChannel(); audienceChanged(); renderSoon(); }));
  showChannel();

  // The lead picker: the newest lead, the audience's sample, and leads found by search.
  const leadSelect = $("preview-lead");
  const leadSearch = $("lead-search");
  const knownLeads = new Map();
  let found = [];
  function renderLeadChoices() {
    const current = leadSelect.value;
    [...sampleLeads, ...found].forEach((lead) => knownLeads.set(String(lead.id), lead));
    const option = (lead) => el("option", { value: lead.id, selected: String(lead.id) === current }, `${leadName(lead)}${lead.email ? ` <${lead.email}>` : ""}`);
    const groups = [
      el("option", { value: "", selected: current === "" }, "the newest lead"),
      sampleLeads.length ? el("optgroup", { label: "In the audience" }, sampleLeads.map(option)) : null,
      found.length ? el("optgroup", { label: "Found" }, found.map(option)) : null,
    ];
    const listed = new Set([...sampleLeads, ...found].map((l) => String(l.id)));
    if (current && !listed.has(current) && knownLeads.has(current)) groups.push(option(knownLeads.get(current)));
    clear(leadSelect, groups);
  }
  leadSearch.addEventListener("input", debounce(async () => {
    const q = leadSearch.value.trim();
    try {
      found = q ? (await api(`/leads?${new URLSearchParams({ q, per_page: 10 })}`)).items : [];
    } catch (error) { toast(error.message, "error"); return; }
    renderLeadChoices();
    if (found.length) {  // searching means "preview for this one"
      leadSelect.value = String(found[0].id);
      renderSoon();
    }
  }, 300));
  leadSelect.addEventListener("change", () => renderSoon());

  const renderSubject = $("render-subject");
  const renderFrame = $("render-html");
  const renderText = $("render-text");
  let renderRequest = null;
  async function renderPreview() {
    if (channel() !== "email") return;
    renderRequest?.abort();
    renderRequest = new AbortController();
    const lead = leadSelect.value ? Number(leadSelect.value) : null;
    try {
      const result = await api("/campaigns/render", {
        method: "POST", body: { subject: subject.value, body: body.value, lead_id: lead }, signal: renderRequest.signal });
      clearFieldErrors(form, "subject");
      clearFieldErrors(form, "body");
      renderSubject.textContent = result.subject || "(no subject)";
      renderFrame.srcdoc = result.html;
      renderText.textContent = result.text;
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error.path === "subject" || error.path === "body") {
        clearFieldErrors(form, error.path === "subject" ? "body" : "subject");
        showFieldError(form, error.path, error.message);
      } else {
        toast(error.message, "error");
      }
    }
  }
  const renderSoon = debounce(renderPreview, 300);
  subject.addEventListener("input", renderSoon);
  body.addEventListener("input", renderSoon);

  // -- schedule, resend, state --------------------------------------------------------------------
  const kindInputs = [...form.querySelectorAll("input[name=schedule]")];
  const kind = () => kindInputs.find((i) => i.checked).value;
  const sendAt = $("send-at");
  const cron = $("cron");
  const cronHint = $("cron-hint");
  const zone = $("schedule-timezone");
  const resendPolicy = $("resend-policy");
  const resendDays = $("resend-days");
  const state = $("campaign-state");
  $("time-zones").append(...timeZones().map((z) => el("option", { value: z })));
  const schedule = campaign?.schedule || { kind: "manual", timezone: settings.timezone };
  zone.value = schedule.timezone || settings.timezone;
  kindInputs.forEach((i) => { i.checked = i.value === schedule.kind; });
  if (schedule.send_at) sendAt.value = wallClock(schedule.send_at, zone.value);
  cron.value = schedule.cron || "";
  if (campaign) {
    resendPolicy.value = campaign.resend.policy;
    if (campaign.resend.after_days) resendDays.value = campaign.resend.after_days;
    if (campaign.state === "finished") {  // a once campaign that has run: kept unless changed
      state.append(el("option", { value: "finished", disabled: true }, "Finished"));
    }
    state.value = campaign.state;
  }
  const cronHelp = cronHint.innerHTML;
  function showSchedule() {
    $("once-fields").hidden = kind() !== "once";
    $("cron-fields").hidden = kind() !== "cron";
    $("zone-fields").hidden = kind() === "manual";
    $("manual-help").hidden = kind() !== "manual";
    $("resend-days-field").hidden = resendPolicy.value !== "after_days";
    const words = describeCron(cron.value);
    if (words) cronHint.textContent = `${words} (${zone.value || settings.timezone})`;
    else cronHint.innerHTML = cronHelp;
  }
  kindInputs.forEach((i) => i.addEventListener("change", showSchedule));
  [cron, zone].forEach((i) => i.addEventListener("input", showSchedule));
  resendPolicy.addEventListener("change", showSchedule);
  // The policy decides who counts as already sent: the audience follows it.
  resendPolicy.addEventListener("change", audienceChanged);
  resendDays.addEventListener("input", audienceChanged);
  showSchedule();

  function scheduleBody() {
    const data = { kind: kind(), timezone: zone.value.trim() || null };
    if (data.kind === "once") data.send_at = sendAt.value || null;
    if (data.kind === "cron") data.cron = cron.value.trim();
    return data;
  }

  // -- trigger ------------------------------------------------------------------------------------
  const triggerOn = $("trigger-on");
  const triggerSegment = $("trigger-segment");
  const trigger = campaign?.trigger;
  const triggerable = segments.filter((s) => s.active || s.id === trigger?.segment_id);
  triggerSegment.append(...triggerable.map((s) => el("option", { value: String(s.id) }, s.name)));
  if (trigger) {
    triggerOn.value = trigger.on;
    triggerSegment.value = String(trigger.segment_id);
    $("trigger-delay").value = trigger.delay_minutes;
    $("trigger-still").checked = trigger.only_if_still_member;
    if (trigger.cap) {
      $("trigger-cap-max").value = trigger.cap.max;
      $("trigger-cap-days").value = trigger.cap.per_days;
    }
  }
  function showTrigger() {
    form.querySelectorAll(".trigger-field").forEach((box) => { box.hidden = !triggerOn.value; });
  }
  triggerOn.addEventListener("change", showTrigger);
  showTrigger();

  function triggerBody() {
    if (!triggerOn.value) return null;
    const capMax = $("trigger-cap-max").value;
    return {
      on: triggerOn.value,
      segment_id: Number(triggerSegment.value),
      delay_minutes: Number($("trigger-delay").value || 0),
      only_if_still_member: $("trigger-still").checked,
      cap: capMax ? { max: Number(capMax), per_days: Number($("trigger-cap-days").value) } : null,
    };
  }

  // -- saving -------------------------------------------------------------------------------------
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.textContent = "";
    clearFieldErrors(form);
    builder.clearErrors();
    if (!name.value.trim()) {
      showFieldError(form, "name", "A campaign needs a name.");
      name.focus();
      return;
    }
    const data = {
      name: name.value.trim(),
      description: description.value.trim(),
      targeting: targetingBody(),
      channel: channel(),
      subject: subject.value,
      body: body.value,
      webhook_url: webhook.value.trim() || null,
      schedule: scheduleBody(),
      resend: resendBody(),
      trigger: triggerBody(),
    };
    if (state.value !== "finished") data.state = state.value;
    const save = $("save-campaign");
    save.disabled = true;
    try {
      const saved = id
        ? await api(`/campaigns/${id}`, { method: "PATCH", body: data })
        : await api("/campaigns", { method: "POST", body: data });
      if (!id && saved.channel === "webhook") sessionStorage.setItem("segmint-webhook-secret", saved.webhook_secret);
      flashNext(id ? "Campaign saved." : "Campaign created.");
      location.assign(projectUrl(`/campaigns/${saved.id}`));
    } catch (error) {
      save.disabled = false;
      formError.textContent = error.message;
      if (!error.path) return;
      if (error.path.startsWith("targeting")) showTargetingError(error);
      else showFieldError(form, error.path, error.message)?.scrollIntoView({ block: "center" });
    }
  });

  updateAudience();
  renderPreview();
})();

// The resend policy as the API takes it (read from the form when asked, so any code may call it).
function resendBody() {
  const policy = document.getElementById("resend-policy").value;
  const days = document.getElementById("resend-days").value;
  return { policy, after_days: policy === "after_days" ? Number(days) : null };
}
