// The live monitor (admin, staff only): listens on /ws/monitor/ to "monitor.page"
// messages (tasks/monitor.py) and shows, from them alone:
//   - tiles: open parent sessions, running child sessions, queued tasks, and the
//     outcomes of the last minute;
//   - a timeline (SVG): one row per open page, one bar per task from queued to
//     ended, so that queueing beyond 5, cancellations on navigation and timeouts
//     show at a glance;
//   - a table of parent sessions with their running and queued tasks.
// No libraries, nothing from the network. State is visible in the DOM:
// [data-monitor][data-connected], [data-metric], and per bar data-task-id,
// data-task-state, data-kind, data-codeunit inside [data-session-id] rows.
(function () {
  "use strict";

  const root = document.querySelector("[data-monitor]");
  if (!root) return;
  const svg = root.querySelector("[data-timeline]");
  const emptyNote = root.querySelector("[data-empty]");
  const sessionRows = root.querySelector("[data-sessions]");
  const SVG_NS = "http://www.w3.org/2000/svg";
  const TIMEOUT_CODE = "ChildSessionTaskTimeout";
  const CLOSED_KEEP_MS = 20000; // a closed page stays on the timeline this long
  const STALE_MS = 75000; // no word from a page this long: its process is gone
  const KEEP_ENDED_MS = 300000; // ended tasks are kept for the widest window
  const REDRAW_MS = 250;
  const LABEL_W = 230;
  const AXIS_H = 24;
  const LANE_H = 9;
  const LANE_GAP = 3;
  const ROW_PAD = 7;
  const MIN_ROW_H = 34;

  let windowMs = 60000;
  let skewMs = null; // browser clock minus server clock (plus latency), smallest seen
  const sessions = new Map(); // id -> {info, tasks: Map, firstSeen, lastSeen, closedAt}
  const outcomes = []; // {at (browser ms), kind}
  const counted = new Set(); // "session:task" whose end was counted

  // Messages ------------------------------------------------------------------
  // "dispatched": admitted to one of its page's five running slots, not yet taken
  // by a worker's child session (all child sessions busy, or on its way).
  function kindOf(task) {
    if (task.state === "failed" && task.code === TIMEOUT_CODE) return "timeout";
    if (task.state === "running" && task.on_worker == null) return "dispatched";
    return task.state;
  }

  function local(serverMs) {
    return serverMs == null ? null : serverMs + (skewMs || 0);
  }

  function onMessage(message) {
    if (message.type !== "monitor.page" || !message.session) return;
    const now = Date.now();
    const skew = now - message.sent;
    if (skewMs === null || skew < skewMs) skewMs = skew;
    const id = message.session.id;
    let session = sessions.get(id);
    if (!session) {
      session = { tasks: new Map(), firstSeen: now, closedAt: null };
      sessions.set(id, session);
    }
    session.info = message.session;
    session.lastSeen = now;
    if (message.closed && !session.closedAt) session.closedAt = now;
    for (const task of message.tasks) {
      session.tasks.set(task.id, task);
      const key = `${id}:${task.id}`;
      if (task.ended != null && !counted.has(key)) {
        counted.add(key);
        outcomes.push({ at: local(task.ended), kind: kindOf(task) });
      }
    }
  }

  function prune(now) {
    for (const [id, session] of sessions) {
      const gone = session.closedAt ? now - session.closedAt > CLOSED_KEEP_MS : now - session.lastSeen > STALE_MS;
      if (gone) {
        for (const taskId of session.tasks.keys()) counted.delete(`${id}:${taskId}`);
        sessions.delete(id);
        continue;
      }
      for (const [taskId, task] of session.tasks) {
        if (task.ended != null && now - local(task.ended) > KEEP_ENDED_MS) session.tasks.delete(taskId);
      }
    }
    while (outcomes.length && now - outcomes[0].at > 60000) outcomes.shift();
  }

  // Tiles and table -----------------------------------------------------------------
  function setMetric(name, value) {
    const element = root.querySelector(`[data-metric="${name}"]`);
    if (element && element.textContent !== String(value)) element.textContent = String(value);
  }

  function counts(session) {
    let running = 0;
    let dispatched = 0;
    let queued = 0;
    let ended = 0;
    for (const task of session.tasks.values()) {
      const kind = kindOf(task);
      if (kind === "running") running += 1;
      else if (kind === "dispatched") dispatched += 1;
      else if (kind === "queued") queued += 1;
      else ended += 1;
    }
    return { running, dispatched, queued, ended };
  }

  function orderedSessions() {
    return [...sessions.entries()].sort((a, b) => {
      const closed = Number(Boolean(a[1].closedAt)) - Number(Boolean(b[1].closedAt));
      return closed || a[1].firstSeen - b[1].firstSeen;
    });
  }

  function renderTiles(ordered) {
    let open = 0;
    let running = 0;
    let dispatched = 0;
    let queued = 0;
    for (const [, session] of ordered) {
      if (session.closedAt) continue;
      const c = counts(session);
      open += 1;
      running += c.running;
      dispatched += c.dispatched;
      queued += c.queued;
    }
    setMetric("sessions", open);
    setMetric("running", running);
    setMetric("dispatched", dispatched);
    setMetric("queued", queued);
    const last = { completed: 0, failed: 0, timeout: 0, cancelled: 0 };
    for (const outcome of outcomes) last[outcome.kind] = (last[outcome.kind] || 0) + 1;
    for (const kind of Object.keys(last)) setMetric(kind, last[kind]);
  }

  function renderTable(ordered) {
    const rows = [];
    for (const [id, session] of ordered) {
      const info = session.info;
      const c = counts(session);
      const tr = document.createElement("tr");
      tr.dataset.sessionId = id;
      if (session.closedAt) tr.className = "monitor-closed";
      if (c.queued > 0) tr.classList.add("monitor-queueing");
      for (const [text, numeric] of [
        [info.page, false], [info.record || "\u2014", false], [info.user || "anonymous", false], [info.server, false],
        [c.running + c.dispatched, true], [c.queued, true], [c.ended, true],
      ]) {
        const td = document.createElement("td");
        td.textContent = String(text);
        if (numeric) td.className = "num";
        tr.append(td);
      }
      rows.push(tr);
    }
    sessionRows.replaceChildren(...rows);
  }

  // Timeline ----------------------------------------------------------------------
  function el(name, attributes, parent) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
    if (parent) parent.append(node);
    return node;
  }

  // Tasks that overlap in time go on separate lanes of their page's row.
  function lanes(tasks, now) {
    const ends = [];
    const placed = [];
    for (const task of [...tasks].sort((a, b) => a.queued - b.queued || a.id - b.id)) {
      const start = local(task.queued);
      const end = task.ended != null ? local(task.ended) : now;
      let lane = ends.findIndex((laneEnd) => laneEnd <= start);
      if (lane === -1) {
        lane = ends.length;
        ends.push(end);
      } else {
        ends[lane] = end;
      }
      placed.push({ task, lane, start, end });
    }
    return { placed, count: Math.max(ends.length, 1) };
  }

  function describe(task, kind) {
    const parts = [`Task ${task.id}: codeunit ${task.codeunit} ${task.name}`, `record ${task.record || "(none)"}`, kind];
    if (task.started != null) parts.push(`queued ${task.started - task.queued} ms`);
    if (task.started != null && task.on_worker != null && task.on_worker > task.started) parts.push(`waited ${task.on_worker - task.started} ms for a child session`);
    if (task.on_worker != null && task.ended != null) parts.push(`ran ${task.ended - task.on_worker} ms`);
    if (task.started == null && task.ended != null) parts.push(`waited ${task.ended - task.queued} ms, never ran`);
    if (task.code) parts.push(`${task.code}: ${task.text}`);
    return parts.join(" \u00b7 ");
  }

  function renderTimeline(ordered, now) {
    const width = Math.max(svg.parentElement.clientWidth, 480);
    const plotW = width - LABEL_W - 12;
    const from = now - windowMs;
    const x = (t) => LABEL_W + Math.max(0, Math.min(1, (t - from) / windowMs)) * plotW;

    svg.replaceChildren();
    const defs = el("defs", {}, svg);
    const hatch = el("pattern", { id: "monitor-queued", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
    el("rect", { width: 6, height: 6, class: "hatch-bg" }, hatch);
    el("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }, hatch);

    // Axis: a tick every sixth of the window, "now" at the right.
    const axis = el("g", { class: "axis" }, svg);
    let y = AXIS_H;
    const visible = [];
    for (const [id, session] of ordered) {
      const tasks = [...session.tasks.values()].filter((t) => (t.ended == null ? now : local(t.ended)) >= from);
      visible.push([id, session, tasks]);
    }
    emptyNote.hidden = visible.length > 0;
    const rowsGroup = el("g", { class: "rows" }, svg);
    visible.forEach(([id, session, tasks], index) => {
      const { placed, count } = lanes(tasks, now);
      const rowH = Math.max(MIN_ROW_H, count * (LANE_H + LANE_GAP) - LANE_GAP + ROW_PAD * 2);
      const row = el("g", { class: `row${session.closedAt ? " row-closed" : ""}`, "data-session-id": id, "data-session-page": session.info.page, "data-session-record": session.info.record }, rowsGroup);
      el("rect", { x: 0, y, width, height: rowH, class: index % 2 ? "row-bg odd" : "row-bg" }, row);
      const label = el("text", { x: 10, y: y + 15, class: "row-label" }, row);
      label.textContent = `${session.info.page}${session.info.record ? " " + session.info.record : ""}`;
      const c = counts(session);
      const sub = el("text", { x: 10, y: y + 28, class: "row-sub" }, row);
      sub.textContent = session.closedAt
        ? "closed"
        : `${session.info.user || "anonymous"} \u00b7 ${c.running} running${c.queued ? `, ${c.queued} queued` : ""}`;
      for (const { task, lane, start, end } of placed) {
        const kind = kindOf(task);
        const top = y + ROW_PAD + lane * (LANE_H + LANE_GAP);
        const bar = el("g", {
          class: `bar bar-${kind}`, "data-task-id": task.id, "data-task-state": task.state, "data-kind": kind, "data-codeunit": task.codeunit,
        }, row);
        el("title", {}, bar).textContent = describe(task, kind);
        // Queued in its page (hatched), then waiting for a child session (pale),
        // then running in one (coloured by how it ended).
        const started = task.started != null ? local(task.started) : null;
        const onWorker = task.on_worker != null ? Math.max(local(task.on_worker), started) : null;
        const queuedEnd = started != null ? started : end;
        if (queuedEnd > start) {
          el("rect", { x: x(start), y: top, width: Math.max(x(queuedEnd) - x(start), 1), height: LANE_H, class: "seg-queued" }, bar);
        }
        const runFrom = onWorker != null ? onWorker : end;
        if (started != null && runFrom > started) {
          el("rect", { x: x(started), y: top, width: Math.max(x(runFrom) - x(started), 1), height: LANE_H, class: "seg-dispatched" }, bar);
        }
        if (onWorker != null) {
          el("rect", { x: x(onWorker), y: top, width: Math.max(x(end) - x(onWorker), 2), height: LANE_H, rx: 2, class: `seg-run seg-${kind}` }, bar);
        } else if (task.ended != null) {
          el("rect", { x: x(end) - 2, y: top, width: 2, height: LANE_H, class: `seg-run seg-${kind}` }, bar); // never ran
        }
      }
      y += rowH;
    });
    const height = Math.max(y, AXIS_H + MIN_ROW_H);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const step = windowMs / 6;
    for (let i = 0; i <= 6; i += 1) {
      const tx = LABEL_W + (i / 6) * plotW;
      el("line", { x1: tx, y1: AXIS_H - 4, x2: tx, y2: height, class: i === 6 ? "now-line" : "grid-line" }, axis);
      const text = el("text", { x: tx, y: AXIS_H - 9, class: "tick", "text-anchor": i === 6 ? "end" : "middle" }, axis);
      text.textContent = i === 6 ? "now" : `\u2212${Math.round((windowMs - i * step) / 1000)} s`;
    }
  }

  function render() {
    const now = Date.now();
    prune(now);
    const ordered = orderedSessions();
    renderTiles(ordered);
    renderTable(ordered);
    renderTimeline(ordered, now);
  }

  // Socket -------------------------------------------------------------------------
  let socket = null;
  let attempt = 0;

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${window.location.host}${root.dataset.socketPath}`);
    socket.addEventListener("open", () => {
      attempt = 0;
      root.dataset.connected = "true";
    });
    socket.addEventListener("message", (event) => {
      try {
        onMessage(JSON.parse(event.data));
      } catch (error) {
        console.warn("monitor: ignoring a message it cannot read", error);
      }
    });
    socket.addEventListener("close", (event) => {
      root.dataset.connected = "false";
      if (event.code === 4403) return; // not staff (any more): reloading shows the login
      attempt += 1;
      const delay = Math.min(10000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      window.setTimeout(connect, delay);
    });
  }

  for (const button of root.querySelectorAll("[data-window]")) {
    button.addEventListener("click", () => {
      windowMs = Number(button.dataset.window) * 1000;
      for (const other of root.querySelectorAll("[data-window]")) other.setAttribute("aria-pressed", String(other === button));
      render();
    });
  }

  window.bcpagesMonitor = { sessions, render };
  connect();
  render();
  window.setInterval(render, REDRAW_MS);
})();
