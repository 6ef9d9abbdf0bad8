// The task panel: one row per background task of this page, with
// data-task-id, data-task-state and data-task-record, updated from "task.state"
// frames. Rows of records the page has left stay, marked data-previous, so the
// user can see what navigating away cancelled (PBT-SPEC.md S14).
(function (bcpages) {
  "use strict";
  const P = bcpages.protocol;

  // A page that refreshes itself (a live cue) adds a row every few seconds: past
  // this many rows, the oldest ended ones go.
  const MAX_ROWS = 200;

  // Task ids are unique per parent session, and every connection is a new
  // parent session that counts from 1 again: rows are keyed by both.
  let connection = 0;
  const rows = new Map();

  function list() {
    return document.querySelector("[data-task-list]");
  }

  function cell(row, name) {
    return row.querySelector(`[data-cell="${name}"]`);
  }

  function newRow(frame) {
    const row = document.createElement("tr");
    row.className = "task";
    row.dataset.taskId = String(frame.task_id);
    row.dataset.codeunit = String(frame.codeunit);
    row.dataset.connection = String(connection);
    for (const name of ["id", "codeunit", "record", "state", "duration", "code", "text"]) {
      const td = document.createElement("td");
      td.dataset.cell = name;
      row.append(td);
    }
    cell(row, "id").textContent = String(frame.task_id);
    const name = frame.codeunit_name ? ` ${frame.codeunit_name}` : "";
    cell(row, "codeunit").textContent = `${frame.codeunit}${name}`;
    cell(row, "record").textContent = frame.record || "\u2014";
    return row;
  }

  function formatDuration(ms) {
    if (ms === undefined || ms === null) return "";
    return `${Number(ms).toLocaleString("en", { maximumFractionDigits: 0 })} ms`;
  }

  function show(row, state, { duration_ms, code, text } = {}) {
    row.dataset.taskState = state;
    const badge = document.createElement("span");
    badge.className = "task-state";
    badge.textContent = state;
    cell(row, "state").replaceChildren(badge);
    if (duration_ms !== undefined) cell(row, "duration").textContent = formatDuration(duration_ms);
    else if (P.LIVE_TASK_STATES.includes(state)) cell(row, "duration").textContent = "\u2026";
    cell(row, "code").textContent = code || "";
    cell(row, "text").textContent = text || "";
    cell(row, "text").title = text || "";
  }

  // Add or update the row of a "task.state" frame.
  function update(frame, currentRecord) {
    const body = list();
    if (!body) return;
    const key = `${connection}:${frame.task_id}`;
    let row = rows.get(key);
    if (!row) {
      row = newRow(frame);
      rows.set(key, row);
      body.prepend(row); // newest first
      prune();
    }
    row.dataset.taskRecord = frame.record;
    row.toggleAttribute("data-previous", frame.record !== currentRecord);
    show(row, frame.state, frame);
    count();
  }

  function prune() {
    for (const [key, row] of rows) {
      if (rows.size <= MAX_ROWS) break;
      if (!P.LIVE_TASK_STATES.includes(row.dataset.taskState)) {
        row.remove();
        rows.delete(key);
      }
    }
  }

  // The page shows another record: older rows become "previous".
  function showRecord(record) {
    for (const row of rows.values()) row.toggleAttribute("data-previous", row.dataset.taskRecord !== record);
    count();
  }

  // The connection closed: the server cancels every task of a closed page (S15),
  // but it can no longer tell us, so say it here.
  function connectionClosed() {
    for (const row of rows.values()) {
      if (row.dataset.connection === String(connection) && P.LIVE_TASK_STATES.includes(row.dataset.taskState)) {
        show(row, P.CANCELLED, { text: "The connection closed; the server cancels the tasks of a closed page." });
      }
    }
    connection += 1;
    count();
  }

  function count() {
    const live = [...rows.values()].filter((row) => P.LIVE_TASK_STATES.includes(row.dataset.taskState)).length;
    const total = document.querySelector("[data-task-count]");
    if (total) total.textContent = live ? `${live} running or queued, ${rows.size} in all` : `${rows.size}`;
    const panel = document.querySelector("[data-task-panel]");
    if (panel) panel.toggleAttribute("data-empty", rows.size === 0);
  }

  bcpages.taskPanel = { update, showRecord, connectionClosed };
})((window.bcpages = window.bcpages || {}));
