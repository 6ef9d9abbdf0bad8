// The websocket protocol, as constants. Mirrors bcpages/frames.py (frame types,
// steps, error codes) and bcpages/fields.py (field states): change both together.
(function (bcpages) {
  "use strict";

  bcpages.protocol = Object.freeze({
    PATH: "/ws/pages/",

    // Browser -> server
    PAGE_OPEN: "page.open",
    PAGE_NAVIGATE: "page.navigate",
    PAGE_REFRESH: "page.refresh",
    PAGE_ACTION: "page.action",
    PAGE_CLOSE: "page.close",
    // Server -> browser
    PAGE_STATE: "page.state",
    FIELD_UPDATE: "field.update",
    TASK_STATE: "task.state",
    NOTIFICATION: "notification",
    DIALOG: "dialog",
    ERROR: "error",

    STEPS: Object.freeze(["next", "previous", "first", "last"]),

    // Field states
    LOADING: "loading",
    OK: "ok",
    FAILED: "failed",

    // Task states (PBT-SPEC.md S1); the first two are live.
    QUEUED: "queued",
    RUNNING: "running",
    COMPLETED: "completed",
    TASK_FAILED: "failed",
    CANCELLED: "cancelled",
    LIVE_TASK_STATES: Object.freeze(["queued", "running"]),

    // Notification levels
    LEVELS: Object.freeze(["info", "warning", "error"]),

    // Error codes of the "error" frame
    INVALID_FRAME: "InvalidFrame",
    UNKNOWN_FRAME_TYPE: "UnknownFrameType",
    PAGE_NOT_OPEN: "PageNotOpen",
    PAGE_ALREADY_OPEN: "PageAlreadyOpen",
    PAGE_CLOSED: "PageClosed",
    UNKNOWN_PAGE: "UnknownPage",
    UNKNOWN_RECORD: "UnknownRecord",
    UNKNOWN_ACTION: "UnknownAction",
    INVALID_ACTION_ARGS: "InvalidActionArguments",
    NAVIGATION_NOT_ALLOWED: "NavigationNotAllowed",
  });
})((window.bcpages = window.bcpages || {}));
