// Loaded before the page's own scripts (Playwright init script). Records, for
// every [data-field] element, each distinct [record, state, value, refreshing]
// it shows, in order, so that tests can assert on states that came and went
// faster than any polling could see (a field that was "loading" for 5 ms).
//
// The MutationObserver callback runs once after each batch of DOM changes (one
// frame applied), so an entry is what the user could actually see.
(function () {
  "use strict";
  const history = {};
  window.__fieldHistory = history;

  function record(element) {
    const name = element.dataset.field;
    const entry = [
      document.body.dataset.record,
      element.dataset.state,
      element.textContent,
      element.hasAttribute("data-refreshing"),
    ];
    const entries = (history[name] = history[name] || []);
    const last = entries[entries.length - 1];
    if (!last || last.some((value, index) => value !== entry[index])) entries.push(entry);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-field]").forEach(record);
    new MutationObserver((mutations) => {
      const changed = new Set();
      for (const mutation of mutations) {
        const node = mutation.target.nodeType === Node.ELEMENT_NODE ? mutation.target : mutation.target.parentElement;
        const field = node && node.closest("[data-field]");
        if (field) changed.add(field);
      }
      changed.forEach(record);
    }).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
      attributeFilter: ["data-state", "data-refreshing"],
    });
  });
})();
