// Loaded before the page's own scripts (Playwright init script). Records the task
// panel as the user saw it: after each batch of DOM changes (one frame applied),
// a snapshot {task id: [codeunit, state]} of every row shown, so that tests can
// assert on states that lasted milliseconds (a task queued behind five others).
(function () {
  "use strict";
  const snapshots = [];
  window.__taskPanelHistory = snapshots;

  document.addEventListener("DOMContentLoaded", () => {
    const list = document.querySelector("[data-task-list]");
    if (!list) return;
    new MutationObserver(() => {
      const rows = {};
      for (const row of list.querySelectorAll("[data-task-id]")) {
        rows[row.dataset.taskId] = [Number(row.dataset.codeunit), row.dataset.taskState];
      }
      snapshots.push(rows);
    }).observe(list, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-task-state"] });
  });
})();
