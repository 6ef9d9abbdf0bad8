// The playground (bcpages/demo/playground.py): the form that calls the page's
// "enqueue" action, the live task list with a Cancel button per task, the
// explanation of every outcome, and the timeline (timeline.js).
//
// What it knows comes from the frames page.js dispatches as DOM events:
//   bcpages:task   task.state frames: id, codeunit, record, state, duration, code, text;
//   bcpages:field  the page's "report" field: JSON events with a seq (enqueued,
//                  completed, failed, cancel, refused) that say what page code did,
//                  e.g. what cancel_background_task returned;
//   bcpages:state  page.state: the current customer changed (or the page opened).
// Each task row is a <tr data-task-id data-task-state data-outcome>.
(function (bcpages) {
  "use strict";
  const P = bcpages.protocol;
  const data = JSON.parse(document.getElementById("playground-data").textContent);
  const limits = data.limits;
  const codeunits = new Map(data.codeunits.map((unit) => [unit.id, unit]));

  // The scenarios of the "Try" buttons: a form to fill in and enqueue.
  const WAIT = 50100;
  const BUSY = 50130;
  const BLOCKED = 50132;
  const RENAME = 50133;
  const CRASH = 50135;
  const ECHO = 50136;
  const SCENARIOS = {
    wait: { codeunit: WAIT, parameters: { Wait: "3000" }, timeout: 10000 },
    timeout: { codeunit: WAIT, parameters: { Wait: "3000" }, timeout: 1000 },
    twelve: { codeunit: WAIT, parameters: { Wait: "1000" }, timeout: 10000, count: 12 },
    full: { codeunit: WAIT, parameters: { Wait: "2000" }, timeout: 60000, count: limits.max_running + limits.max_queued + 1 },
    error: { codeunit: BLOCKED, timeout: 10000, error_level: "error" },
    warning: { codeunit: BLOCKED, timeout: 10000, error_level: "warning" },
    handled: { codeunit: BLOCKED, timeout: 10000, handled: true },
    write: { codeunit: RENAME, timeout: 10000 },
    busy: { codeunit: BUSY, parameters: { Duration: "5000" }, timeout: 2000 },
    crash: { codeunit: CRASH, timeout: 10000 },
    echo: { codeunit: ECHO, parameters: { Wait: "3000" }, timeout: 10000 },
  };

  // Tasks by "<connection>:<task id>": each connection is a new parent session
  // whose ids start again at 1.
  let connection = 0;
  const tasks = new Map();
  const refusals = []; // {at, code, text, copy, count, codeunit}
  const markers = []; // {at, label}: the customer changed
  const settings = new Map(); // task id (this connection) -> what the enqueue asked for
  let lastSeq = 0;

  const $ = (selector) => document.querySelector(selector);
  const form = $("[data-playground-form]");
  const list = $("[data-playground-tasks]");
  const timelineBox = $("[data-timeline]");

  // The base template's task panel: this page shows its own, richer list.
  $("[data-task-panel]")?.remove();

  // Form -------------------------------------------------------------------

  function parameterRow(key = "", value = "") {
    const row = document.createElement("div");
    row.className = "pg-param";
    row.innerHTML =
      '<input class="pg-input pg-param-key" placeholder="Name" aria-label="Parameter name">' +
      '<input class="pg-input pg-param-value" placeholder="Value" aria-label="Parameter value">' +
      '<button type="button" class="button pg-param-remove" aria-label="Remove parameter">\u00d7</button>';
    row.querySelector(".pg-param-key").value = key;
    row.querySelector(".pg-param-value").value = value;
    row.querySelector(".pg-param-remove").addEventListener("click", () => row.remove());
    return row;
  }

  function setParameters(parameters) {
    const box = form.querySelector("[data-parameters]");
    box.replaceChildren(...Object.entries(parameters || {}).map(([key, value]) => parameterRow(key, value)));
  }

  function chooseCodeunit(id) {
    const unit = codeunits.get(id);
    const select = form.querySelector("[data-codeunit]");
    select.value = String(id);
    form.querySelector("[data-codeunit-description]").textContent = unit ? unit.description : "";
    if (unit) {
      setParameters(unit.parameters);
      form.querySelector("[data-timeout]").value = unit.timeout ?? "";
    }
  }

  // A number input as the server should see it: whole numbers as numbers, an
  // empty box as "not given", anything else as typed (the server says why not).
  function number(input) {
    const text = input.value.trim();
    if (text === "") return undefined;
    const value = Number(text);
    return Number.isFinite(value) ? value : text;
  }

  function readForm() {
    const parameters = {};
    for (const row of form.querySelectorAll(".pg-param")) {
      const key = row.querySelector(".pg-param-key").value.trim();
      if (key) parameters[key] = row.querySelector(".pg-param-value").value;
    }
    const args = {
      codeunit: Number(form.querySelector("[data-codeunit]").value),
      parameters,
      error_level: form.querySelector('input[name="error_level"]:checked')?.value || "error",
      count: number(form.querySelector("[data-count]")) ?? 1,
      handled: form.querySelector("[data-handled]").checked,
    };
    const timeout = number(form.querySelector("[data-timeout]"));
    if (timeout !== undefined) args.timeout = timeout;
    return args;
  }

  function fillForm(scenario) {
    chooseCodeunit(scenario.codeunit);
    if (scenario.parameters) setParameters(scenario.parameters);
    form.querySelector("[data-timeout]").value = scenario.timeout ?? "";
    form.querySelector("[data-count]").value = String(scenario.count ?? 1);
    const level = scenario.error_level || "error";
    for (const radio of form.querySelectorAll('input[name="error_level"]')) radio.checked = radio.value === level;
    form.querySelector("[data-handled]").checked = Boolean(scenario.handled);
  }

  function enqueue(args) {
    bcpages.page.action("enqueue", args);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    enqueue(readForm());
  });
  form.querySelector("[data-codeunit]").addEventListener("change", (event) => chooseCodeunit(Number(event.target.value)));
  form.querySelector("[data-add-parameter]").addEventListener("click", () => {
    const row = parameterRow();
    form.querySelector("[data-parameters]").append(row);
    row.querySelector("input").focus();
  });
  for (const button of document.querySelectorAll("[data-scenario]")) {
    const scenario = SCENARIOS[button.dataset.scenario];
    if (!scenario || !codeunits.has(scenario.codeunit)) {
      button.disabled = true;
      button.title = "This codeunit is disabled";
      continue;
    }
    button.addEventListener("click", () => {
      fillForm(scenario);
      enqueue(readForm());
    });
  }
  chooseCodeunit(Number(form.querySelector("[data-codeunit]").value));

  // Explanations: one or two sentences per outcome, with the rule it shows. -----

  function ms(value) {
    return `${Number(value).toLocaleString("en")} ms`;
  }

  function timeoutOf(task) {
    const asked = task.settings?.timeout;
    if (asked === undefined || asked === null) return `the default of ${ms(limits.default_timeout_ms)}`;
    if (typeof asked === "number" && asked > limits.max_timeout_ms) return `${ms(limits.max_timeout_ms)} (the maximum)`;
    return ms(asked);
  }

  function runningCount() {
    return [...tasks.values()].filter((t) => t.connection === connection && t.state === P.RUNNING).length;
  }

  // The kind of outcome: what the row, the explanation and the timeline show.
  function kindOf(task) {
    if (task.state === P.QUEUED || task.state === P.RUNNING || task.state === P.COMPLETED) return task.state;
    if (task.state === P.CANCELLED) return task.cancelCause ? `cancelled-${task.cancelCause}` : "cancelled";
    return (
      {
        ChildSessionTaskTimeout: "timeout",
        ChildSessionReadOnly: "read-only",
        ChildSessionCrashed: "crashed",
        ChildSessionLost: "lost",
        InvalidTaskResult: "invalid-result",
      }[task.code] || "raised"
    );
  }

  const LABELS = {
    queued: "Waiting",
    running: "Running",
    completed: "Completed",
    timeout: "Timed out",
    "read-only": "Read-only",
    crashed: "Crashed",
    lost: "Lost",
    "invalid-result": "Invalid result",
    raised: "Raised an error",
    cancelled: "Cancelled",
    "cancelled-navigation": "Cancelled: customer changed",
    "cancelled-button": "Cancelled: Cancel button",
    "cancelled-closed": "Cancelled: page closed",
  };

  function whatWasShown(task) {
    const asked = task.settings;
    if (!asked) return "";
    if (task.handled || asked.handled) return " The error trigger returned True (handled), so nothing was shown. (S27)";
    if (asked.error_level === "ignore") return " Error level ignore: nothing was shown, though the failure is logged. (S27, S28)";
    if (asked.error_level === "warning") return " Error level warning: shown as a warning notification. (S27)";
    return " Error level error: shown as an error notification. (S27)";
  }

  function explain(task) {
    const kind = kindOf(task);
    const was = task.cancelledWhile === P.RUNNING ? "running" : "waiting";
    switch (kind) {
      case "queued": {
        const running = runningCount();
        return running >= limits.max_running
          ? `Waiting: ${running} tasks of this page are running and at most ${limits.max_running} run at once, so it waits its turn; tasks start in the order they were enqueued. (S12, S13)`
          : `Waiting for a free running slot; tasks start in the order they were enqueued. (S12, S13)`;
      }
      case "running":
        return `Running in a read-only child session. Its timeout of ${timeoutOf(task)} counts from the moment it started running, not from when it was enqueued. (S9)`;
      case "completed": {
        const echoed = task.results && task.results.CustomerNo;
        const base = "Completed: the codeunit returned its result as text, and the page's completion trigger received it. (S2, S21)";
        return echoed
          ? `${base} The result is for customer ${echoed}, the record it was enqueued for: a result never reaches another customer. (S17)`
          : base;
      }
      case "timeout":
        return `Timed out: it ran longer than its timeout of ${timeoutOf(task)}, counted from when it started running, so it was stopped. (S9, S11, S16)${whatWasShown(task)}`;
      case "read-only":
        return `Read-only: a background task may read the database but never write it. Its write was refused, nothing was saved, and the task failed. (S18)${whatWasShown(task)}`;
      case "crashed":
        return `Crashed: the process of its child session died (this codeunit killed it). Only this task failed; the page and its other tasks carry on. (S24)${whatWasShown(task)}`;
      case "lost":
        return `Lost: no worker answered within the timeout plus a short grace period, so the page stopped waiting rather than wait forever. (S25)${whatWasShown(task)}`;
      case "invalid-result":
        return `Invalid result: results must be text (a dict of str to str); the codeunit returned something else, so the task failed. (S6)${whatWasShown(task)}`;
      case "raised":
        return `Raised ${task.code}: the codeunit raised an error, and its code, text and call stack went to the page's error trigger. (S23)${whatWasShown(task)}`;
      case "cancelled-navigation":
        return `Cancelled: the current record changed while this task was ${was}, so its result would belong to another customer. (S14, S17)`;
      case "cancelled-button":
        return `Cancelled with the Cancel button: cancel_background_task(${task.id}) returned True because the task was still ${was}. Its result, if any, is dropped. (S8, S2)`;
      case "cancelled-closed":
        return "Cancelled: the connection closed, and a page that closes cancels all its tasks. (S15)";
      default:
        return "Cancelled. (S8)";
    }
  }

  const REFUSALS = {
    ChildSessionsMaxQueueLength: () =>
      `Refused at enqueue: ${limits.max_running} tasks were running and ${limits.max_queued} waiting, the most one page may have, so enqueue_background_task raised ChildSessionsMaxQueueLength and queued nothing. (S7, S12)`,
    UnknownCodeunit: () => "Refused at enqueue: no enabled codeunit has this id, so nothing was queued. (S7)",
    InvalidTaskParameters: () => "Refused at enqueue: parameters must be text names with text values (a dict of str to str). (S6, S7)",
    InvalidTaskTimeout: () => "Refused at enqueue: the timeout must be a positive whole number of milliseconds. (S7, S9)",
    InvalidErrorLevel: () => "Refused at enqueue: the error level must be ignore, warning or error. (S26)",
    InvalidActionArguments: () => "Refused by the playground before anything was enqueued: the form's values do not fit the action.",
  };

  function explainRefusal(refusal) {
    return (REFUSALS[refusal.code] || (() => "Refused at enqueue: nothing was queued. (S7)"))();
  }

  // The task list ------------------------------------------------------------

  function cells(row) {
    row.innerHTML =
      '<td data-cell="id"></td><td><span data-cell="codeunit"></span><span class="pg-for">customer <span data-cell="record"></span></span></td>' +
      '<td><span data-cell="state"></span><span class="pg-duration" data-cell="duration"></span></td>' +
      '<td data-cell="outcome"><span class="pg-outcome" data-cell="kind"></span> <code class="pg-code" data-cell="code"></code>' +
      '<span class="pg-text" data-cell="text"></span></td>' +
      '<td class="pg-why" data-cell="why"></td><td data-cell="cancel"></td>';
  }

  function cell(row, name) {
    return row.querySelector(`[data-cell="${name}"]`);
  }

  // Rows are redrawn ten times a second while tasks run: touch only what changed.
  function setText(element, text) {
    if (element.textContent !== text) element.textContent = text;
  }

  function setData(element, name, value) {
    if (element.dataset[name] !== value) element.dataset[name] = value;
  }

  function codeunitLabel(id, name) {
    const unit = codeunits.get(id);
    return `${id} ${name || (unit ? unit.name : "")}`.trim();
  }

  function newRow(task) {
    const row = document.createElement("tr");
    row.className = "pg-task";
    row.dataset.taskId = String(task.id);
    row.dataset.connection = String(task.connection);
    cells(row);
    cell(row, "id").textContent = String(task.id);
    cell(row, "codeunit").textContent = codeunitLabel(task.codeunit, task.codeunitName);
    cell(row, "record").textContent = task.record;
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "button pg-cancel";
    cancel.textContent = "Cancel";
    cancel.dataset.cancel = String(task.id);
    cancel.addEventListener("click", () => {
      if (task.connection === connection) bcpages.page.action("cancel", { task_id: task.id });
    });
    const answer = document.createElement("span");
    answer.className = "pg-cancel-answer";
    answer.dataset.cancelAnswer = "";
    cell(row, "cancel").append(cancel, answer);
    return row;
  }

  function results(task) {
    return Object.entries(task.results || {})
      .map(([key, value]) => `${key} = ${value}`)
      .join(" \u00b7 ");
  }

  function showTask(task) {
    const row = task.row;
    const kind = kindOf(task);
    setData(row, "taskState", task.state);
    setData(row, "outcome", kind);
    setData(row, "taskRecord", task.record);
    const previous = task.record !== bcpages.page.currentRecord() || task.connection !== connection;
    if (row.hasAttribute("data-previous") !== previous) row.toggleAttribute("data-previous", previous);
    const state = cell(row, "state");
    if (state.dataset.shown !== task.state) {
      const badge = document.createElement("span");
      badge.className = "task-state";
      badge.textContent = task.state;
      state.replaceChildren(badge);
      state.dataset.shown = task.state;
    }
    setText(
      cell(row, "duration"),
      task.durationMs !== undefined ? ms(Math.round(task.durationMs)) : P.LIVE_TASK_STATES.includes(task.state) ? "\u2026" : "",
    );
    setText(cell(row, "kind"), LABELS[kind] || kind);
    setText(cell(row, "code"), task.code || "");
    const text = task.state === P.COMPLETED ? results(task) : task.text || "";
    setText(cell(row, "text"), text);
    if (cell(row, "text").title !== text) cell(row, "text").title = text;
    setText(cell(row, "why"), explain(task));
    const button = cell(row, "cancel").querySelector("button");
    if (button.disabled !== (task.connection !== connection)) button.disabled = task.connection !== connection;
    if (task.cancelReturned !== undefined) {
      setData(row, "cancelReturned", String(task.cancelReturned));
      setText(cell(row, "cancel").querySelector("[data-cancel-answer]"), task.cancelReturned ? "returned True" : "returned False");
    }
    if (task.handled !== undefined) setData(row, "handled", String(task.handled));
  }

  function showRefusal(refusal) {
    if (!refusal.row) {
      const row = document.createElement("tr");
      row.className = "pg-task pg-refused";
      row.dataset.refused = refusal.code;
      row.dataset.outcome = "refused";
      cells(row);
      cell(row, "id").textContent = "\u2014";
      cell(row, "codeunit").textContent = typeof refusal.codeunit === "number" ? codeunitLabel(refusal.codeunit) : String(refusal.codeunit ?? "");
      cell(row, "record").textContent = refusal.record;
      const badge = document.createElement("span");
      badge.className = "task-state";
      badge.textContent = "refused";
      cell(row, "state").replaceChildren(badge);
      cell(row, "kind").textContent = refusal.copy && refusal.count > 1 ? `Refused: copy ${refusal.copy} of ${refusal.count}` : "Refused";
      cell(row, "code").textContent = refusal.code;
      cell(row, "text").textContent = refusal.text;
      cell(row, "text").title = refusal.text;
      cell(row, "why").textContent = explainRefusal(refusal);
      refusal.row = row;
    }
  }

  // Rows in the order things happened: tasks by id, a refusal after the tasks
  // enqueued before it.
  function order() {
    const entries = [...tasks.values()].map((task) => ({ at: task.seen, row: task.row }));
    for (const refusal of refusals) entries.push({ at: refusal.at, row: refusal.row });
    entries.sort((a, b) => a.at - b.at);
    return entries.map((entry) => entry.row);
  }

  // Drawing: at most once per animation frame; while tasks run, ten times a second.
  let scheduled = false;
  let ticker = null;

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(draw);
  }

  function draw() {
    scheduled = false;
    const rows = order();
    if (rows.length !== list.children.length || rows.some((row, index) => list.children[index] !== row)) {
      list.replaceChildren(...rows);
    }
    for (const task of tasks.values()) showTask(task);
    document.querySelector("[data-playground-empty]").hidden = rows.length > 0;

    const current = [...tasks.values()].filter((t) => t.connection === connection);
    const running = current.filter((t) => t.state === P.RUNNING).length;
    const queued = current.filter((t) => t.state === P.QUEUED).length;
    const counters = $("[data-counters]");
    setData(counters, "runningCount", String(running));
    setData(counters, "queuedCount", String(queued));
    setText(counters.querySelector("[data-running]"), String(running));
    setText(counters.querySelector("[data-queued]"), String(queued));

    const now = performance.now();
    bcpages.timeline.render(timelineBox, {
      now,
      maxRunning: limits.max_running,
      tasks: [...tasks.values()].sort((a, b) => a.seen - b.seen).map((task) => ({
        id: task.id,
        label: `Task ${task.id} ${codeunitLabel(task.codeunit, task.codeunitName)} (customer ${task.record})`,
        kind: timelineKind(task),
        record: task.record,
        queuedAt: task.queuedAt,
        runningAt: task.runningAt,
        endedAt: task.endedAt,
      })),
      refusals: refusals.map((r) => ({ at: r.at, label: `${r.code}: ${r.text}` })),
      markers,
    });

    const live = running + queued > 0;
    if (live && ticker === null) ticker = setInterval(schedule, 100);
    if (!live && ticker !== null) {
      clearInterval(ticker);
      ticker = null;
    }
  }

  function timelineKind(task) {
    const kind = kindOf(task);
    if (kind.startsWith("cancelled")) return "cancelled";
    if (kind === "read-only" || kind === "invalid-result" || kind === "raised") return "failed";
    if (kind === "lost") return "crashed";
    return kind;
  }

  // Frames ---------------------------------------------------------------------

  function onTask(frame) {
    const key = `${connection}:${frame.task_id}`;
    const now = performance.now();
    let task = tasks.get(key);
    if (!task) {
      task = {
        key,
        connection,
        id: frame.task_id,
        codeunit: frame.codeunit,
        codeunitName: frame.codeunit_name,
        record: frame.record,
        seen: now,
        queuedAt: now,
        settings: settings.get(frame.task_id),
      };
      task.row = newRow(task);
      tasks.set(key, task);
    }
    if (frame.state === P.RUNNING && task.runningAt === undefined) task.runningAt = now;
    if (!P.LIVE_TASK_STATES.includes(frame.state) && task.endedAt === undefined) {
      task.endedAt = now;
      if (frame.state === P.CANCELLED) task.cancelledWhile = task.state;
    }
    task.state = frame.state;
    task.code = frame.code;
    task.text = frame.text;
    if (frame.duration_ms !== undefined) task.durationMs = frame.duration_ms;
    schedule();
  }

  function findTask(id) {
    return tasks.get(`${connection}:${id}`);
  }

  // The page's report: what page code did, each event once (by seq).
  function onReport(text) {
    if (!text) return;
    let events;
    try {
      events = JSON.parse(text);
    } catch {
      return;
    }
    for (const event of events) {
      if (event.seq <= lastSeq) continue;
      lastSeq = event.seq;
      applyEvent(event);
    }
    schedule();
  }

  function applyEvent(event) {
    const now = performance.now();
    if (event.event === "enqueued") {
      const asked = { timeout: event.timeout, error_level: event.error_level, handled: event.handled, parameters: event.parameters };
      for (const id of event.task_ids) {
        settings.set(id, asked);
        const task = findTask(id);
        if (task) task.settings = asked;
      }
      if (event.refused) {
        refusals.push({
          at: now,
          record: bcpages.page.currentRecord(),
          codeunit: event.codeunit,
          count: event.count,
          ...event.refused,
        });
        showRefusal(refusals[refusals.length - 1]);
      }
    } else if (event.event === "refused") {
      refusals.push({ at: now, record: bcpages.page.currentRecord(), code: event.code, text: event.text });
      showRefusal(refusals[refusals.length - 1]);
    } else if (event.event === "cancel") {
      const task = findTask(event.task_id);
      if (task) {
        task.cancelReturned = event.returned;
        if (event.returned) task.cancelCause = "button";
      }
    } else if (event.event === "completed") {
      const task = findTask(event.task_id);
      if (task) task.results = event.results;
    } else if (event.event === "failed") {
      const task = findTask(event.task_id);
      if (task) task.handled = event.handled;
    }
  }

  document.addEventListener("bcpages:task", (event) => onTask(event.detail));
  document.addEventListener("bcpages:field", (event) => {
    if (event.detail.fields && "report" in event.detail.fields) onReport(event.detail.fields.report);
  });
  // The customer this connection shows (null until its first page.state).
  let shownRecord = null;

  document.addEventListener("bcpages:state", (event) => {
    const frame = event.detail;
    // Cancelled, and not with the Cancel button: the customer changed under it (S14).
    for (const task of tasks.values()) {
      if (task.connection === connection && task.state === P.CANCELLED && !task.cancelCause && task.record !== frame.record) {
        task.cancelCause = "navigation";
      }
    }
    if (shownRecord !== null && frame.record !== shownRecord) {
      markers.push({ at: performance.now(), label: `\u2192 ${frame.record}` });
    }
    shownRecord = frame.record;
    onReport(frame.fields && frame.fields.report);
    schedule();
  });
  bcpages.page.socket.addEventListener("close", () => {
    for (const task of tasks.values()) {
      if (task.connection === connection && P.LIVE_TASK_STATES.includes(task.state)) {
        task.cancelledWhile = task.state;
        task.state = P.CANCELLED;
        task.cancelCause = "closed";
        task.endedAt = performance.now();
      }
    }
    // The next connection is a new parent session: ids and reports start again.
    connection += 1;
    settings.clear();
    lastSeq = 0;
    shownRecord = null;
    schedule();
  });

  $("[data-clear]").addEventListener("click", () => {
    for (const [key, task] of tasks) {
      if (!P.LIVE_TASK_STATES.includes(task.state)) tasks.delete(key);
    }
    refusals.length = 0;
    const first = Math.min(...[...tasks.values()].map((t) => t.queuedAt));
    for (let i = markers.length - 1; i >= 0; i -= 1) if (!(markers[i].at >= first)) markers.splice(i, 1);
    schedule();
  });

  window.addEventListener("resize", schedule);
  schedule();

  bcpages.playground = { enqueue, cancel: (taskId) => bcpages.page.action("cancel", { task_id: taskId }), explain, tasks };
})((window.bcpages = window.bcpages || {}));
