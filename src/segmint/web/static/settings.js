// Settings: project, custom fields, webhooks, users and the caller's API tokens.
"use strict";

async function apiRoot(path, options = {}) {
  // Organization-wide endpoints live outside /projects/{project}.
  const response = await fetch(`/api/v1${path}`, {
    method: options.method || "GET",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": BOOT.csrf },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    credentials: "same-origin",
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new ApiError(message, response.status);
  }
  return response.status === 204 ? null : response.json();
}

// A section whose load fails says why in its own box, as its forms do: the page stays usable
// (and a load answered after the project was renamed or deleted is no page error).
function showLoadFailure(box) {
  return (e) => { clear(box, el(box.tagName === "UL" ? "li" : "p", { class: "error", role: "alert" }, e.message)); };
}

function table(headers, rows, empty) {
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, headers.map(headerCell))),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, empty)))));
}

async function projectSettings() {
  const form = document.getElementById("project-form");
  const name = document.getElementById("project-name");
  const zone = document.getElementById("project-timezone");
  const statuses = document.getElementById("project-statuses");
  const converted = document.getElementById("project-converted");
  const error = document.getElementById("project-error");
  function fill(settings) {
    name.value = settings.name;
    zone.value = settings.timezone;
    statuses.value = settings.statuses.join("\n");
    clear(converted, settings.statuses.map((s) => el("option", { value: s, selected: s === settings.converted_status }, s)));
  }
  statuses.addEventListener("input", () => {
    const current = converted.value;
    clear(converted, statuses.value.split("\n").map((s) => s.trim()).filter(Boolean).map((s) => el("option", { value: s, selected: s === current }, s)));
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      fill(await api("/settings", { method: "PATCH", body: {
        name: name.value.trim(), timezone: zone.value.trim(),
        statuses: statuses.value.split("\n").map((s) => s.trim()).filter(Boolean), converted_status: converted.value } }));
      toast("Settings saved.");
    } catch (e) { error.textContent = e.message; }
  });
  try {
    fill(await api("/settings"));
  } catch (e) { error.textContent = e.message; }
}

async function customFields() {
  const list = document.getElementById("custom-fields");
  async function load() {
    const result = await api("/custom-fields").catch(showLoadFailure(list));
    if (!result) return;
    clear(list, result.items.length
      ? result.items.map((f) => el("li", {}, el("strong", {}, f.label), el("span", { class: "muted" }, ` · custom.${f.key} · ${f.type}${f.options.length ? ` (${f.options.join(", ")})` : ""}`)))
      : el("li", { class: "muted" }, "No custom fields yet."));
  }
  const form = document.getElementById("field-form");
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("field-error");
    error.textContent = "";
    const type = document.getElementById("field-type").value;
    const options = document.getElementById("field-options").value.split(",").map((s) => s.trim()).filter(Boolean);
    try {
      await api("/custom-fields", { method: "POST", body: {
        key: document.getElementById("field-key").value.trim(),
        label: document.getElementById("field-label").value.trim() || null,
        type, options: type === "select" ? options : null } });
      form.reset();
      toast("Custom field added.");
      await load();
    } catch (e) { error.textContent = e.message; }
  });
  load();
}

// Outgoing mail (owners and admins): the password is write-only, the API says only whether one
// is set; an empty public URL is offered as this page's own address.
async function mailSettings() {
  const form = document.getElementById("mail-form");
  if (!form) return;
  const field = (name) => document.getElementById(`mail-${name}`);
  const texts = { host: "host", username: "username", from_email: "from-email", from_name: "from-name", reply_to: "reply-to", public_url: "public-url" };
  const numbers = { port: "port", rate_per_minute: "rate" };
  const clearPassword = field("clear-password");
  function fill(settings) {
    for (const [key, name] of Object.entries({ ...texts, ...numbers })) field(name).value = settings[key] ?? "";
    field("security").value = settings.security;
    if (!settings.public_url) field("public-url").value = window.location.origin;
    field("password").value = "";
    field("password").placeholder = settings.password_set ? "set (leave empty to keep it)" : "";
    field("password-state").textContent = settings.password_set ? "A password is set." : "Not set.";
    document.getElementById("mail-clear-password-label").hidden = !settings.password_set;
    clearPassword.checked = false;
  }
  function resetErrors() {
    document.getElementById("mail-error").textContent = "";
    form.querySelectorAll("[data-path] .field-error").forEach((n) => { n.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  }
  try {
    fill(await api("/settings/mail"));
  } catch (e) {
    document.getElementById("mail-error").textContent = e.message;
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    resetErrors();
    const body = { security: field("security").value, clear_password: clearPassword.checked };
    for (const [key, name] of Object.entries(texts)) body[key] = field(name).value.trim() || null;
    for (const [key, name] of Object.entries(numbers)) {
      const value = field(name).value.trim();
      if (value !== "") body[key] = Number(value);
    }
    if (field("password").value) body.password = field("password").value;
    try {
      fill(await api("/settings/mail", { method: "PUT", body }));
      toast("Mail settings saved.");
    } catch (e) {
      const box = e.path && form.querySelector(`[data-path="${e.path}"]`);
      if (box) {
        box.querySelector(".field-error").textContent = e.message;
        box.querySelector("input, select")?.setAttribute("aria-invalid", "true");
      } else {
        document.getElementById("mail-error").textContent = e.message;
      }
    }
  });
}

async function webhooks() {
  const box = document.getElementById("webhooks");
  if (!box) return;
  const names = new Map();  // segment id -> name, once the segments are read
  const secretBox = document.getElementById("hook-secret");
  const reveal = (hook) => {
    secretBox.hidden = false;
    clear(secretBox, "Signing secret (shown once, keep it safe): ", el("code", {}, hook.secret));
  };
  async function load() {
    const result = await api("/webhooks").catch(showLoadFailure(box));
    if (!result) return;
    clear(box, table(["URL", "Segment", "State", "Pending", ""], result.items.map((h) => el("tr", {},
      el("td", {}, h.url), el("td", {}, h.segment_id ? names.get(h.segment_id) || `Segment ${h.segment_id}` : "All segments"),
      el("td", {}, h.consecutive_failures ? el("span", { class: "warn" }, `failing (${h.consecutive_failures})`) : (h.active ? "active" : "paused")),
      el("td", { class: "num" }, fmtNumber(h.pending)),
      el("td", {},
        el("button", { type: "button", onclick: async () => reveal(await api(`/webhooks/${h.id}/rotate-secret`, { method: "POST" })) }, "Rotate secret"), " ",
        el("button", { type: "button", class: "danger", onclick: async () => {
          if (!(await confirmDialog({ title: "Delete this webhook?", lines: [h.url, "Changes not yet delivered are dropped."], confirmLabel: "Delete", danger: true }))) return;
          try {
            await api(`/webhooks/${h.id}`, { method: "DELETE" });
          } catch (e) { toast(e.message, "error"); }
          await load();
        } }, "Delete")))), "No webhooks yet."));
  }
  document.getElementById("hook-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const segment = document.getElementById("hook-segment").value;
    try {
      const hook = await api("/webhooks", { method: "POST", body: { url: document.getElementById("hook-url").value.trim(), segment_id: segment ? Number(segment) : null } });
      event.target.reset();
      reveal(hook);
      await load();
    } catch (e) { toast(e.message, "error"); }
  });
  const segments = await api("/segments?scope=all").catch(showLoadFailure(box));
  if (!segments) return;
  for (const s of segments.items) names.set(s.id, s.name);
  document.getElementById("hook-segment").append(...segments.items.map((s) => el("option", { value: s.id }, s.name)));
  await load();
}

async function usersAndTokens() {
  const usersBox = document.getElementById("users");
  let removedEmails = new Set();
  async function loadUsers() {
    const result = await apiRoot("/users?include_removed=true").catch(showLoadFailure(usersBox));
    if (!result) return;
    const active = result.items.filter((u) => !u.removed_at);
    removedEmails = new Set(result.items.filter((u) => u.removed_at).map((u) => u.email));
    clear(usersBox, table(["Email", "Role", "Created", "Last log-in", ""], result.items.map((u) => el("tr", { class: u.removed_at ? "muted" : null },
      el("td", {}, u.email, u.id === BOOT.user_id ? el("span", { class: "muted" }, " (you)") : ""),
      el("td", {}, u.removed_at ? `${u.role}, removed ${fmtDate(u.removed_at, false)}` : roleChoice(u)), el("td", {}, fmtDate(u.created_at, false)),
      el("td", {}, fmtDate(u.last_login_at)), el("td", {}, u.removed_at ? restoreButton(u) : removeButton(u, active)))), "No users."));
  }
  // Adding a removed user's email again brings back the same user (what they made is theirs
  // again; their old tokens stay revoked): Restore fills the form below with their email and
  // role, and leaves the new password to be typed.
  function restoreButton(u) {
    if (!mayManage(u)) return "";
    return el("button", { type: "button", "aria-label": `Restore ${u.email}`, onclick: () => {
      document.getElementById("user-email").value = u.email;
      document.getElementById("user-role").value = u.role;
      const password = document.getElementById("user-password");
      password.focus();
      toast(`Give ${u.email} a new password (or none, for API access only), then Add user.`);
    } }, "Restore");
  }
  // Only an owner makes, changes or removes an owner (the API refuses the rest, 403): an admin
  // sees an owner's role as text and no Remove button.
  const mayManage = (u) => u.role !== "owner" || BOOT.role === "owner";
  function roleChoice(u) {
    if (!mayManage(u)) return u.role;
    const roles = BOOT.role === "owner" ? ["member", "admin", "owner"] : ["member", "admin"];
    const select = el("select", { "aria-label": `Role of ${u.email}` },
      ...roles.map((r) => el("option", { value: r, selected: r === u.role }, r)));
    select.addEventListener("change", async () => {
      const self = u.id === BOOT.user_id;
      if (self && !(await confirmDialog({ title: `Become ${select.value}?`, lines: [stepDownLoses(select.value)],
        confirmLabel: `Become ${select.value}`, danger: true }))) {
        select.value = u.role;
        return;
      }
      try {
        await apiRoot(`/users/${u.id}`, { method: "PATCH", body: { role: select.value } });
        // This page was drawn for the old role: draw it again for the new one.
        if (self) { location.reload(); return; }
        toast(`${u.email} is now ${select.value}.`);
      } catch (e) { toast(e.message, "error"); }
      await loadUsers();  // after a refusal (the last owner), the role shown is the stored one
    });
    return select;
  }
  function stepDownLoses(role) {
    return role === "member" ? "You will no longer manage users, project settings or webhooks, and will see only the segments you made."
      : "You will no longer make, change or remove owners.";
  }
  function removeButton(u, everyone) {
    if (!mayManage(u)) return "";
    return el("button", { type: "button", class: "danger", "aria-label": `Remove ${u.email}`, onclick: async () => {
      // Their leads keep them as owner unless given to a teammate (a bulk action per project).
      const heir = el("select", { id: "heir" }, el("option", { value: "" }, "No one: they keep their owner"),
        ...everyone.filter((other) => other.id !== u.id).map((other) => el("option", { value: other.email }, other.email)));
      const heirField = el("p", {}, el("label", { for: "heir" }, "Give their leads to "), heir);
      if (!(await confirmDialog({ title: `Remove ${u.email}?`, lines: ["They can no longer log in, and their API tokens stop working at once.",
        "The segments, lists and campaigns they made stay. Adding the same email again brings them back.", heirField],
        confirmLabel: "Remove", danger: true }))) return;
      const to = heir.value;
      try {
        await apiRoot(`/users/${u.id}${to ? `?reassign_to=${encodeURIComponent(to)}` : ""}`, { method: "DELETE" });
        toast(to ? `${u.email} removed. Their leads are being given to ${to}.` : `${u.email} removed.`);
      } catch (e) { toast(e.message, "error"); }
      await loadUsers();
    } }, "Remove");
  }
  if (usersBox) {
    loadUsers();
    document.getElementById("user-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const password = document.getElementById("user-password").value;
      const email = document.getElementById("user-email").value.trim();
      try {
        await apiRoot("/users", { method: "POST", body: { email, role: document.getElementById("user-role").value, password: password || null } });
        event.target.reset();
        toast(removedEmails.has(email.toLowerCase()) ? `${email} restored.` : "User added.");
        await loadUsers();
      } catch (e) { toast(e.message, "error"); }
    });
  }
  const tokensBox = document.getElementById("tokens");
  async function loadTokens() {
    const result = await apiRoot("/tokens").catch(showLoadFailure(tokensBox));
    if (!result) return;
    clear(tokensBox, table(["Name", "Prefix", "Project", "Created", "Last used", ""], result.items.map((t) => el("tr", {},
      el("td", {}, t.name), el("td", {}, el("code", {}, `sgm_${t.prefix}_…`)), el("td", {}, t.project || "all"),
      el("td", {}, fmtDate(t.created_at, false)), el("td", {}, fmtDate(t.last_used_at)),
      el("td", {}, t.revoked_at ? el("span", { class: "muted" }, `revoked ${fmtDate(t.revoked_at, false)}`)
        : el("button", { type: "button", class: "danger", onclick: async () => {
            if (!(await confirmDialog({ title: `Revoke "${t.name}"?`, lines: ["Programs using it stop working at once."], confirmLabel: "Revoke", danger: true }))) return;
            try {
              await apiRoot(`/tokens/${t.prefix}`, { method: "DELETE" });
            } catch (e) { toast(e.message, "error"); }
            await loadTokens();
          } }, "Revoke")))), "No tokens yet."));
  }
  document.getElementById("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const issued = await apiRoot("/tokens", { method: "POST", body: { name: document.getElementById("token-name").value.trim() } });
      event.target.reset();
      const shown = document.getElementById("token-shown");
      shown.hidden = false;
      clear(shown, "Your new token (shown once, copy it now): ", el("code", {}, issued.token));
      await loadTokens();
    } catch (e) { toast(e.message, "error"); }
  });
  loadTokens();
}

// The organization's projects: each openable; owners and admins create one, change this one's
// slug, or delete it once empty (the API's 409 says what it still holds).
function projects() {
  const box = document.getElementById("projects");
  const openLink = (p) => (p.slug === BOOT.project ? el("span", { class: "muted" }, "this project")
    : el("a", { href: `/p/${encodeURIComponent(p.slug)}/settings` }, `Open ${p.name}`));
  apiRoot("/projects").then((result) => clear(box, table(["Name", "Slug", "Time zone", ""],
    result.items.map((p) => el("tr", {}, el("td", {}, p.name), el("td", {}, el("code", {}, p.slug)),
      el("td", {}, p.timezone), el("td", {}, openLink(p)))), "No projects.")), showLoadFailure(box));
  const form = document.getElementById("new-project-form");
  if (!form) return;  // the forms are there at once: listen before anything is awaited
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("new-project-error");
    error.textContent = "";
    const name = document.getElementById("new-project-name").value.trim();
    try {
      const created = await apiRoot("/projects", { method: "POST",
        body: { slug: document.getElementById("new-project-slug").value.trim(), name: name || null } });
      // Reloaded, the page's project menu lists the new project to switch to.
      flashNext(`Project "${created.name}" created: switch to it with the project menu or its Open link.`);
      location.reload();
    } catch (e) { error.textContent = e.message; }
  });
  document.getElementById("project-slug-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("project-slug-error");
    error.textContent = "";
    try {
      const moved = await apiRoot(`/projects/${encodeURIComponent(BOOT.project)}`, { method: "PATCH",
        body: { slug: document.getElementById("project-slug").value.trim() } });
      flashNext(`Slug changed to "${moved.slug}".`);
      location.assign(`/p/${encodeURIComponent(moved.slug)}/settings`);
    } catch (e) { error.textContent = e.message; }
  });
  document.getElementById("delete-project").addEventListener("click", async () => {
    const sure = await confirmDialog({ title: `Delete project "${BOOT.project}"?`,
      lines: ["Only an empty project can be deleted: no leads, accounts, segments, lists, campaigns or webhooks.",
        "Its settings, custom fields and scoring rules go with it. This cannot be undone."],
      confirmLabel: "Delete project", danger: true });
    if (!sure) return;
    try {
      await apiRoot(`/projects/${encodeURIComponent(BOOT.project)}`, { method: "DELETE" });
      flashNext(`Project "${BOOT.project}" deleted.`);
      location.assign("/");
    } catch (e) { toast(e.message, "error"); }
  });
}

projectSettings();
projects();
customFields();
mailSettings();
webhooks();
usersAndTokens();
