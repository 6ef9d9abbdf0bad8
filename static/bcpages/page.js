// The page binding: opens the page on the server, applies what the server sends
// to the DOM, and turns buttons and browser history into frames.
//
// Reads <body data-page data-record>; keeps data-record on the current record.
// Dispatches on document, for other scripts (playground, admin monitor):
//   bcpages:state        detail = the page.state frame
//   bcpages:field        detail = a field.update frame for the current record
//   bcpages:task         detail = a task.state frame
//   bcpages:notification detail = {level, text, task_id?, code?} (error frames too)
//   bcpages:dialog       detail = the dialog frame
// API: window.bcpages.page.{send, navigate, action, refresh, handleFrame, socket}.
(function (bcpages) {
  "use strict";
  const P = bcpages.protocol;
  const body = document.body;
  let socket = null;

  function currentRecord() {
    return body.dataset.record || "";
  }

  function emit(name, detail) {
    document.dispatchEvent(new CustomEvent(`bcpages:${name}`, { detail }));
  }

  // field.update frames do not say why a field failed, but the server sends the
  // failed task.state just before the update that marks its fields failed: keep
  // that task's error to show on those fields.
  let lastFailure = null;

  function showRecord(frame) {
    body.dataset.record = frame.record;
    for (const element of document.querySelectorAll("[data-record-key]")) element.textContent = frame.record;
    if (frame.caption) {
      for (const element of document.querySelectorAll("[data-caption]")) element.textContent = frame.caption;
    }
    const caption = frame.caption || document.querySelector("[data-caption]")?.textContent || "";
    document.title = `${[caption, frame.record].filter(Boolean).join(" ")} - bcpages`;
  }

  function rememberInHistory(frame) {
    if (!frame.url) return;
    // The record goes into the history entry, so that back/forward know where to go.
    const state = { bcpages: { page: frame.page, record: frame.record } };
    if (frame.url !== window.location.pathname) {
      window.history.pushState(state, "", frame.url);
    } else {
      window.history.replaceState(state, "", window.location.href);
    }
  }

  const handlers = {
    [P.PAGE_STATE](frame) {
      lastFailure = null;
      showRecord(frame);
      bcpages.fields.apply(frame.fields, frame.field_states);
      rememberInHistory(frame);
      bcpages.taskPanel.showRecord(frame.record);
      emit("state", frame);
    },

    [P.FIELD_UPDATE](frame) {
      // A late update for a record the page has left must not show (S17).
      if (frame.record !== currentRecord()) return;
      const errors = {};
      if (lastFailure && lastFailure.record === frame.record) {
        for (const [name, state] of Object.entries(frame.field_states || {})) {
          if (state === P.FAILED) errors[name] = lastFailure.text;
        }
      }
      lastFailure = null;
      bcpages.fields.apply(frame.fields, frame.field_states, errors);
      emit("field", frame);
    },

    [P.TASK_STATE](frame) {
      bcpages.taskPanel.update(frame, currentRecord());
      if (frame.state === P.TASK_FAILED && frame.text) {
        lastFailure = { record: frame.record, text: frame.code ? `${frame.code}: ${frame.text}` : frame.text };
      }
      emit("task", frame);
    },

    [P.NOTIFICATION](frame) {
      bcpages.notifications.show(frame.level, frame.text, { taskId: frame.task_id });
      emit("notification", { level: frame.level, text: frame.text, task_id: frame.task_id });
    },

    [P.DIALOG](frame) {
      bcpages.notifications.showDialog(frame.text);
      emit("dialog", frame);
    },

    [P.ERROR](frame) {
      bcpages.notifications.show("error", frame.text, { code: frame.code });
      emit("notification", { level: "error", text: frame.text, code: frame.code });
    },
  };

  function handleFrame(frame) {
    const handler = handlers[frame.type];
    if (handler) handler(frame);
    else console.warn("bcpages: ignoring a frame of unknown type", frame);
  }

  function send(frame) {
    socket.send(frame);
  }

  // navigate({step: "next"}) or navigate({record: "20000"})
  function navigate(target) {
    send({ type: P.PAGE_NAVIGATE, ...target });
  }

  function action(name, args) {
    send(args ? { type: P.PAGE_ACTION, action: name, args } : { type: P.PAGE_ACTION, action: name });
  }

  function refresh() {
    send({ type: P.PAGE_REFRESH });
  }

  function onClick(event) {
    const step = event.target.closest("[data-navigate]");
    if (step) {
      navigate({ step: step.dataset.navigate });
      return;
    }
    const button = event.target.closest("[data-action]");
    if (button) {
      action(button.dataset.action, button.dataset.actionArgs ? JSON.parse(button.dataset.actionArgs) : undefined);
      return;
    }
    if (event.target.closest("[data-page-refresh]")) refresh();
  }

  // Back/forward: show the record of that history entry.
  function onPopState(event) {
    const record = event.state?.bcpages?.record;
    if (record !== undefined && record !== currentRecord()) navigate({ record });
  }

  function start() {
    socket = new bcpages.Socket();
    socket.addEventListener("open", () => {
      // First thing on every connection, before queued frames: a new connection
      // is a new parent session that must be told which page and record it holds.
      if (body.dataset.page) send({ type: P.PAGE_OPEN, page: body.dataset.page, record: currentRecord() });
    });
    socket.addEventListener("frame", (event) => handleFrame(event.detail));
    socket.addEventListener("close", () => bcpages.taskPanel.connectionClosed());
    document.addEventListener("click", onClick);
    window.addEventListener("popstate", onPopState);
    socket.connect();
  }

  bcpages.page = {
    send,
    navigate,
    action,
    refresh,
    handleFrame,
    currentRecord,
    get socket() {
      return socket;
    },
  };

  start();
})((window.bcpages = window.bcpages || {}));
