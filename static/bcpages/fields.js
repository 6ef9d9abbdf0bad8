// Fields in the DOM: every element with data-field="<name>" shows that field's
// value and carries its state in data-state (loading, ok, failed). Elements with
// data-bind="<name>" only echo the value (a page title, for instance).
//
// A loading field that still has a value is a refresh (PBT-SPEC.md S33): the old
// value stays visible and the element gets data-refreshing, so the stylesheet can
// show that it is being recomputed.
(function (bcpages) {
  "use strict";
  const P = bcpages.protocol;

  function elements(attribute, name) {
    return document.querySelectorAll(`[${attribute}="${CSS.escape(name)}"]`);
  }

  function showState(element, state, errorText) {
    element.dataset.state = state;
    const refreshing = state === P.LOADING && element.textContent !== "";
    element.toggleAttribute("data-refreshing", refreshing);
    element.setAttribute("aria-busy", state === P.LOADING ? "true" : "false");
    if (state === P.FAILED && errorText) {
      element.title = errorText;
    } else if (state !== P.FAILED) {
      element.removeAttribute("title");
    }
  }

  // Apply values and states for the names they list; other fields are untouched.
  // errors: {name: text} for failed fields whose cause is known.
  function apply(values = {}, states = {}, errors = {}) {
    const names = new Set([...Object.keys(values), ...Object.keys(states)]);
    for (const name of names) {
      for (const element of elements("data-field", name)) {
        if (name in values) element.textContent = values[name];
        showState(element, states[name] || element.dataset.state || P.OK, errors[name]);
      }
      if (name in values) {
        for (const element of elements("data-bind", name)) element.textContent = values[name];
      }
    }
  }

  function state(name) {
    const element = document.querySelector(`[data-field="${CSS.escape(name)}"]`);
    return element ? element.dataset.state : undefined;
  }

  bcpages.fields = { apply, state };
})((window.bcpages = window.bcpages || {}));
