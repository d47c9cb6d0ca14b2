// Sickbay's dashboard: containers with last-hour charts, incidents, settings. Live through
// the app's events ("status", "event"); everything else through commands (ipc.js).
import { call, on } from "./ipc.js";
import { sparkline } from "./chart.js";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function showError(e) {
  const box = $("error");
  box.textContent = String(e);
  box.hidden = false;
}

const fmt = (v, unit, digits = 1) => (v === null || v === undefined ? "–" : `${v.toFixed(digits)} ${unit}`);

// ---- Containers ----------------------------------------------------------------------------

let status = null;
const metrics = new Map(); // container name → samples of the last hour

function summary(s) {
  if (s.paused) return "Monitoring paused";
  if (s.standing_by) return `Standing by: ${s.standing_by}`;
  if (!s.docker_reachable) return `Docker unreachable (${s.docker_error ?? s.docker_endpoint})`;
  const watched = s.containers.filter((c) => c.verdict !== null).length;
  const sick = s.containers.filter((c) => c.verdict === "yellow" || c.verdict === "red");
  if (sick.length) return sick.map((c) => c.standing ?? c.name).join(" · ");
  return `${watched} container${watched === 1 ? "" : "s"} healthy`;
}

function chartCell(name, value, field, unit) {
  const samples = metrics.get(name) ?? [];
  const times = samples.map((m) => Date.parse(m.timestamp));
  const cell = el("td", { class: "metric" }, el("span", {}, value));
  cell.append(sparkline(times, samples.map((m) => m[field]), unit));
  return cell;
}

/** What a container needs (the dependency graph), e.g. "needs vpn (network), db (compose)". */
function needs(c) {
  const deps = c.depends_on ?? [];
  if (deps.length === 0) return null;
  const list = deps.map((d) => `${d.name} (${d.via})`).join(", ");
  return el("div", { class: "needs muted", title: "What it depends on, and how Sickbay knows" },
    `needs ${list}`);
}

/** How long ago, in a few words: "40 s ago", "3 min ago". */
function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A UTC stamp as local time and how long ago: "14:02:11 (3 min ago)"; the date too when it is not today. */
function when(stamp) {
  const t = Date.parse(stamp);
  if (Number.isNaN(t)) return stamp;
  const d = new Date(t);
  const local = d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
  return `${local} (${ago(Date.now() - t)})`;
}

/** "Snooze 1 h", or "Unsnooze" while it is snoozed: Sickbay records and shows, heals and notifies nothing. */
function snoozeButton(c) {
  const snoozed = Boolean(c.snoozed_until);
  const b = el("button", { type: "button", class: "snooze", title: snoozed
    ? "Sickbay heals it again"
    : "Leave it alone for an hour: recorded and shown, not healed, not notified" },
  snoozed ? "Unsnooze" : "Snooze 1 h");
  b.addEventListener("click", () =>
    call("snooze", snoozed ? { container: c.name } : { container: c.name, minutes: 60 }).catch(showError));
  return b;
}

/** A small button of a container's line. */
function smallButton(cls, label, title, onClick) {
  const b = el("button", { type: "button", class: cls, title }, label);
  b.addEventListener("click", () => onClick().catch(showError));
  return b;
}

/** What a person can do with a container, under its name. */
function actions(c) {
  const box = el("div", { class: "actions" }, snoozeButton(c));
  box.append(smallButton("restart", "Restart now",
    "Sickbay restarts it now; what it had given up on starts afresh",
    () => call("restart", { container: c.name })));
  if (c.incident_id !== null && c.incident_id !== undefined) {
    box.append(smallButton("investigate-container", "Investigate",
      `Opens Claude Code on incident ${c.incident_id}`,
      () => call("investigate", { incident: c.incident_id })));
  }
  box.append(smallButton("logs", "Log", "Its log, live: the last 1,000 lines, secrets removed",
    async () => openLog(c.name)));
  return box;
}

/** Docker's restart count, and Sickbay's own restarts (Docker's count leaves out those made through its API). */
function restarts(c) {
  return c.sickbay_restarts ? `${c.restart_count} (+${c.sickbay_restarts} by Sickbay)` : String(c.restart_count);
}

function renderStatus() {
  if (!status) return;
  $("verdict").className = `dot ${status.verdict}`;
  $("summary").textContent = summary(status);
  const rows = status.containers.map((c) =>
    el(
      "tr",
      { "data-container": c.name, class: `verdict-${c.verdict ?? "none"}` },
      el("td", {}, el("span", { class: `dot ${c.verdict ?? "none"}` }), ` ${c.name}`,
        c.note ? el("div", { class: "note" }, c.note) : null,
        c.held_for ? el("div", { class: "note held" }, `held: waiting for ${c.held_for}`) : null,
        needs(c),
        actions(c)),
      el("td", {}, c.state),
      el("td", { class: "health" }, c.health),
      el("td", { class: "restarts" }, restarts(c)),
      chartCell(c.name, fmt(c.cpu_percent, "%"), "cpu_percent", "%"),
      chartCell(c.name, fmt(c.mem_mb, "MB"), "mem_mb", "MB"),
      chartCell(c.name, fmt(c.response_time_ms, "ms", 0), "response_time_ms", "ms"),
    ),
  );
  if (rows.length === 0) {
    rows.push(el("tr", {}, el("td", { colSpan: 7, class: "muted" }, "No containers watched")));
  }
  $("container-rows").replaceChildren(...rows);
  $("paused").checked = status.paused;
  const warnings = [];
  if (status.other_healer) warnings.push(`Another healer may be at work: ${status.other_healer}`);
  if (status.history_errors) {
    warnings.push(`${status.history_errors} write(s) to the history failed: see the diagnostic log`);
  }
  $("warnings").hidden = warnings.length === 0;
  $("warnings").replaceChildren(...warnings.map((w) => el("p", {}, w)));
}

async function loadMetrics() {
  if (!status) return;
  await Promise.all(
    status.containers.map(async (c) => {
      metrics.set(c.name, await call("metrics", { container: c.name }));
    }),
  );
  renderStatus();
}

// ---- A container's log, live ---------------------------------------------------------------

const LOG_MAX = 1000;
let logState = null; // { name, cursor, lines, timer }

async function pollLog() {
  const st = logState;
  // One look at a time: a slow daemon must not have two fetch the same lines.
  if (!st || st.busy) return;
  st.busy = true;
  let tail;
  try {
    tail = await call("logs", { container: st.name, after: st.cursor });
  } finally {
    st.busy = false;
  }
  if (logState !== st) return;
  st.cursor = tail.cursor;
  st.lines.push(...tail.lines);
  if (st.lines.length > LOG_MAX) st.lines.splice(0, st.lines.length - LOG_MAX);
  renderLog();
}

/** The lines that match the search (all without one), as plain text: nothing in a line is markup. */
function renderLog() {
  const st = logState;
  if (!st) return;
  const q = $("log-search").value.trim().toLowerCase();
  const shown = q ? st.lines.filter((l) => l.text.toLowerCase().includes(q)) : st.lines;
  const pre = $("log-lines");
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = shown.map((l) => `${new Date(Date.parse(l.at)).toLocaleTimeString()}  ${l.text}`).join("\n");
  const lines = (n) => `${n} line${n === 1 ? "" : "s"}`;
  $("log-count").textContent = q ? `${shown.length} of ${lines(st.lines.length)} match` : lines(st.lines.length);
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

function openLog(name) {
  closeLog();
  logState = { name, cursor: null, lines: [], timer: null };
  $("log-name").textContent = name;
  $("log-lines").textContent = "";
  $("log-count").textContent = "";
  $("log-view").hidden = false;
  pollLog().catch(showError);
  logState.timer = setInterval(() => pollLog().catch(showError), 2000);
  $("log-view").scrollIntoView();
}

function closeLog() {
  if (logState) clearInterval(logState.timer);
  logState = null;
  $("log-view").hidden = true;
}

$("log-search").addEventListener("input", renderLog);
$("log-close").addEventListener("click", closeLog);

// ---- Stack ---------------------------------------------------------------------------------

function renderStack(st) {
  // No stack set: say how to set one, instead of buttons that could do nothing.
  const none = !st.compose_file;
  $("stack").hidden = none;
  $("stack-none").hidden = !none;
  if (none) return;
  $("stack-file").textContent = st.compose_file;
  const busy = st.running !== null;
  $("stack-start").disabled = busy;
  $("stack-stop").disabled = busy;
  const state = $("stack-state");
  state.textContent = busy ? `${st.running}…` : (st.ok === true ? st.message : st.ok === false ? "Failed:" : "");
  state.className = st.ok === false && !busy ? "error" : "muted";
  const out = $("stack-output");
  // While it runs: what compose prints. After a failure: the whole error.
  const text = busy ? st.output.join("\n") : st.ok === false ? st.message : "";
  out.textContent = text;
  out.hidden = text === "";
  out.scrollTop = out.scrollHeight;
}

$("stack-start").addEventListener("click", () => call("stack_run", { start: true }).catch(showError));
$("stack-stop").addEventListener("click", () => call("stack_run", { start: false }).catch(showError));

// ---- Incidents -----------------------------------------------------------------------------

function timeline(events) {
  return el(
    "ol",
    { class: "timeline" },
    ...events.map((e) =>
      el("li", { "data-event": e.event },
        el("time", { dateTime: e.timestamp, title: e.timestamp }, when(e.timestamp)),
        " ", el("strong", {}, e.event), " ", el("span", { class: "muted" }, e.details)),
    ),
  );
}

/** Notes being typed, by incident: kept when the list is drawn again. */
const drafts = new Map();

/** People's acknowledgements of an incident, and a note to add one. */
function acknowledgements(i) {
  const done = (i.acknowledged ?? []).map((a) =>
    el("p", { class: "ack" }, el("strong", {}, "Acknowledged "), when(a.at), ": ", a.note));
  const note = el("input", { type: "text", class: "ack-note", maxLength: 500,
    placeholder: "A note: what you found, what you are doing", value: drafts.get(i.id) ?? "" });
  note.addEventListener("input", () => drafts.set(i.id, note.value));
  const button = el("button", { type: "button", class: "acknowledge" }, "Acknowledge");
  button.addEventListener("click", () =>
    call("acknowledge", { incident: i.id, note: note.value })
      .then(() => { drafts.delete(i.id); return loadIncidents(); })
      .catch(showError));
  return el("div", { class: "acks" }, ...done, el("div", { class: "ack-form" }, note, button));
}

function incidentCard(i) {
  const state = i.closed_at ? (i.auto_healed ? "healed" : "closed") : i.status.replaceAll("_", " ");
  const button = el("button", { type: "button", class: "investigate" }, "Investigate with Claude");
  button.addEventListener("click", () => call("investigate", { incident: i.id }).catch(showError));
  const tried = i.actions.length
    ? el("p", {}, "Tried: ", i.actions.map((a) => `${a.action.replaceAll("_", " ")} (${a.outcome})`).join(", "))
    : el("p", { class: "muted" }, "Nothing tried yet.");
  return el(
    "article",
    { class: `incident ${i.closed_at ? "closed" : "open"}`, "data-incident-id": String(i.id), "data-container": i.container },
    el("h3", {}, `#${i.id} ${i.container}: ${i.kind.replaceAll("_", " ")} `, el("span", { class: "badge" }, state)),
    el("p", { class: "muted" }, `Opened ${when(i.opened_at)}${i.closed_at ? `, closed ${when(i.closed_at)}` : ""}. ${i.details}`),
    i.affected && i.affected.length
      ? el("p", { class: "affected" }, `The cause of: ${i.affected.join(", ")} (held, not restarted)`)
      : null,
    tried,
    i.diagnosis ? el("div", { class: "diagnosis" }, el("strong", {}, "Diagnosis: "), i.diagnosis) : null,
    acknowledgements(i),
    timeline(i.events),
    button,
  );
}

async function loadIncidents() {
  const list = await call("incidents", { limit: 50 });
  const cards = list.map(incidentCard);
  if (cards.length === 0) cards.push(el("p", { class: "muted" }, "No incidents recorded."));
  $("incident-list").replaceChildren(...cards);
}

// ---- Settings ------------------------------------------------------------------------------

const ORIGIN = { default: "default", file: "file", environment: "environment", command_line: "command line" };

/** A setting's value: an input where the app edits it (saved on change), else as it is. */
function settingValue(r) {
  if (r.edit === null || r.edit === undefined) {
    return el("td", { title: "Set in the config file or the environment" }, el("code", {}, r.value));
  }
  const bool = r.edit === "true" || r.edit === "false";
  const input = bool
    ? el("input", { type: "checkbox", checked: r.edit === "true", class: "setting" })
    : el("input", { type: "text", value: r.edit, class: "setting", size: Math.min(40, Math.max(8, r.edit.length + 2)) });
  input.addEventListener("change", () =>
    saveSetting(r.key, bool ? String(input.checked) : input.value).catch(showError));
  return el("td", {}, input);
}

let settingRows = [];

function renderSettingRows(rows) {
  settingRows = rows;
  $("setting-rows").replaceChildren(
    ...rows.map((r) =>
      el("tr", { "data-key": r.key }, el("td", {}, el("code", {}, r.key)), settingValue(r),
        el("td", { class: `origin ${r.origin}` }, ORIGIN[r.origin])),
    ),
  );
}

/** Writes one setting into the config file (its comments kept); a refused value says why and changes nothing. */
async function saveSetting(key, value) {
  const state = $("settings-state");
  try {
    const saved = await call("save_settings", { changes: [{ key, value }] });
    renderSettingRows(saved.rows);
    $("config-file").textContent = saved.config_file;
    state.className = "muted";
    const now = saved.applied.includes(key.split(".")[0]) ? " In use now." : "";
    state.textContent = `Saved ${key} in ${saved.config_file}.${now}`;
  } catch (e) {
    state.className = "error";
    state.textContent = String(e);
    renderSettingRows(settingRows);
  }
}

/** The saved sections that apply only when Sickbay restarts (the tray app tells). */
function renderRestartNeeded(sections) {
  $("restart-needed").textContent = sections.length
    ? `${sections.map((s) => `[${s}]`).join(", ")} changed: in use when Sickbay restarts.`
    : "";
  $("restart-needed-line").hidden = sections.length === 0;
}

$("restart-app").addEventListener("click", () => call("restart_app").catch(showError));

// ---- First run -----------------------------------------------------------------------------

let found = null;

/** With no configuration file: what Sickbay found, and a choice of stack and notifications. */
async function showSetup(configFile) {
  $("setup-file").textContent = configFile;
  $("setup").hidden = false;
  found = await call("discover");
  $("setup-engine").textContent = found.error
    ? `Docker at ${found.endpoint} cannot be reached: ${found.error}`
    : `Docker at ${found.endpoint}: ${found.containers} container${found.containers === 1 ? "" : "s"}, ` +
      `${found.projects.length} compose project${found.projects.length === 1 ? "" : "s"}.`;
  const choice = (value, label, checked) =>
    el("p", {}, el("label", {}, el("input", { type: "radio", name: "setup-stack", value, checked }), " ", label));
  $("setup-projects").replaceChildren(
    ...found.projects.map((p, i) =>
      choice(String(i), `${p.name}: ${p.running} of ${p.containers} running (${p.files.join(", ") || p.dir || "no file"})`,
        i === 0)),
    choice("none", "None: watch every container, no stack to start or stop", found.projects.length === 0),
  );
}

$("setup-key-store").addEventListener("click", async () => {
  const state = $("setup-key-state");
  try {
    state.className = "muted";
    state.textContent = `Key ${await call("store_api_key", { key: $("setup-key").value })}.`;
    $("setup-key").value = "";
  } catch (e) {
    state.className = "error";
    state.textContent = String(e);
  }
});

$("setup-save").addEventListener("click", async () => {
  const picked = document.querySelector("input[name=setup-stack]:checked")?.value ?? "none";
  const project = picked === "none" ? null : found.projects[Number(picked)];
  const changes = [{ key: "notify.desktop", value: String($("setup-desktop").checked) }];
  if (project) {
    changes.push({ key: "stack.project_name", value: project.name });
    if (project.files.length) changes.push({ key: "stack.compose_file", value: project.files[0] });
  }
  try {
    const saved = await call("save_settings", { changes });
    renderSettingRows(saved.rows);
    $("setup-state").className = "muted";
    $("setup-state").textContent = `Saved in ${saved.config_file}. In use now.`;
    $("setup-save").disabled = true;
  } catch (e) {
    $("setup-state").className = "error";
    $("setup-state").textContent = String(e);
  }
});

async function loadSettings() {
  const s = await call("settings");
  $("config-file").textContent = s.config_file;
  $("config-origin").textContent = `(${ORIGIN[s.config_origin]}${s.config_file_exists ? "" : ", not present: defaults apply"})`;
  $("data-dir").textContent = s.data_dir;
  if (!s.config_file_exists) showSetup(s.config_file).catch(showError);
  $("data-origin").textContent = `(${ORIGIN[s.data_dir_origin]})`;
  renderSettingRows(s.rows);
  renderRestartNeeded(s.restart_needed);
  try {
    $("autostart").checked = await call("autostart");
  } catch (e) {
    $("autostart").disabled = true;
    $("autostart").title = String(e);
  }
}

// ---- Wiring --------------------------------------------------------------------------------

function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => fn().catch(showError), ms);
  };
}

for (const button of document.querySelectorAll("nav button")) {
  button.addEventListener("click", () => {
    for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b === button);
    for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== button.dataset.tab;
  });
}
$("autostart").addEventListener("change", (e) =>
  call("set_autostart", { enabled: e.target.checked }).catch(showError));
$("paused").addEventListener("change", (e) => call("set_paused", { paused: e.target.checked }).catch(showError));

const refreshIncidents = debounce(loadIncidents, 200);
const refreshMetrics = debounce(loadMetrics, 1000);

async function start() {
  await on("status", (s) => {
    const names = (status?.containers ?? []).map((c) => c.name).join();
    status = s;
    renderStatus();
    if (s.containers.map((c) => c.name).join() !== names) refreshMetrics();
  });
  await on("event", (row) => {
    if (row.incident_id !== null || row.event.startsWith("monitoring_")) refreshIncidents();
    if (row.event.startsWith("container_") && row.event !== "container_unhealthy") refreshMetrics();
  });
  await on("stack", renderStack);
  await on("restart_needed", (sections) => {
    renderRestartNeeded(sections);
    // The file was read again (saved here, or edited by hand): its values, unless one is being typed.
    if (!document.activeElement?.classList.contains("setting")) {
      call("settings").then((s) => renderSettingRows(s.rows)).catch(showError);
    }
  });
  renderStack(await call("stack"));
  status = await call("status");
  renderStatus();
  await Promise.all([loadIncidents(), loadSettings(), loadMetrics()]);
  setInterval(() => loadMetrics().catch(showError), 60_000);
}

start().catch(showError);
