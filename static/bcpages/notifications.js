// Notifications (a bar above the page, as Business Central shows them) and the
// message box (a modal dialog with an OK button).
//
// Each notification is an element with data-level="info|warning|error" inside
// [data-notifications]; the user dismisses it. Warnings and errors look different
// (PBT-SPEC.md S27): the stylesheet keys on data-level.
(function (bcpages) {
  "use strict";

  // Older notifications go once there are more than this many: a page that is
  // browsed record by record would otherwise pile them up.
  const MAX_SHOWN = 5;
  const LABELS = { info: "Information", warning: "Warning", error: "Error" };

  function container() {
    return document.querySelector("[data-notifications]");
  }

  // Show a notification; returns its element. options: {code, taskId}.
  function show(level, text, { code, taskId } = {}) {
    const box = container();
    if (!box) return null;
    const element = document.createElement("div");
    element.className = "notification";
    element.dataset.level = level;
    if (taskId !== undefined) element.dataset.taskId = String(taskId);
    // Errors interrupt a screen reader; the rest wait their turn.
    element.setAttribute("role", level === "error" ? "alert" : "status");

    const icon = document.createElement("span");
    icon.className = "notification-icon";
    icon.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = `${LABELS[level] || level}: `;
    const message = document.createElement("span");
    message.className = "notification-text";
    message.textContent = text;
    element.append(icon, label, message);
    if (code) {
      const codeElement = document.createElement("code");
      codeElement.className = "notification-code";
      codeElement.textContent = code;
      element.append(codeElement);
    }
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "notification-dismiss";
    dismiss.setAttribute("aria-label", "Dismiss");
    dismiss.dataset.dismiss = "";
    dismiss.textContent = "\u00d7";
    dismiss.addEventListener("click", () => element.remove());
    element.append(dismiss);

    box.append(element);
    while (box.children.length > MAX_SHOWN) box.firstElementChild.remove();
    return element;
  }

  // Message boxes wait for the user one at a time, in the order they came.
  const pending = [];

  function showDialog(text) {
    const dialog = document.querySelector("[data-dialog]");
    if (!dialog) return;
    if (dialog.open) {
      pending.push(text);
      return;
    }
    dialog.querySelector("[data-dialog-text]").textContent = text;
    dialog.showModal();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const dialog = document.querySelector("[data-dialog]");
    if (!dialog) return;
    dialog.addEventListener("close", () => {
      if (pending.length) showDialog(pending.shift());
    });
  });

  bcpages.notifications = { show, showDialog };
})((window.bcpages = window.bcpages || {}));
