// The playground's timeline: every task of the page as a bar against time, drawn
// as SVG (no library, no network). A task's lane shows it waiting (hatched), then
// running (blue), then ended, coloured by outcome and closed by a shape:
//   completed ● green, timed out ■ orange, failed ✕ red, crashed or lost ◆ purple,
//   cancelled ⊘ grey. Refused enqueues are red triangles on the axis; a change of
//   customer is a dashed line. Under the lanes, two strips count the running tasks
//   (against the limit of 5, PBT-SPEC.md S12) and the waiting ones.
//
// API: bcpages.timeline.render(container, model), with
//   model = {now, maxRunning, tasks: [{id, label, kind, record, queuedAt, runningAt?, endedAt?}],
//            refusals: [{at, label}], markers: [{at, label}]}
// Times are milliseconds on one clock (performance.now()). kind is one of
// queued, running, completed, timeout, failed, crashed, cancelled.
(function (bcpages) {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";
  const GUTTER = 46; // task labels
  const RIGHT = 14;
  const AXIS = 22; // time axis on top
  const LANES_MAX = 208; // height of the lane area, at most
  const LANES_MIN = 78;
  const LANE_MAX = 12;
  const STRIP = 22; // each count strip
  const STRIP_GAP = 6;
  const MIN_SPAN_MS = 6000;
  const COALESCE_MS = 60;
  const TICKS_MS = [250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000];

  const COLOURS = {
    queued: "#9aa3ad",
    running: "#0f6cbd",
    completed: "#107c10",
    timeout: "#ca5010",
    failed: "#c4262e",
    crashed: "#6b2fa0",
    cancelled: "#8a8886",
    refused: "#c4262e",
    record: "#5c6b7a",
  };

  function escape(text) {
    return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  function seconds(ms) {
    if (ms === 0) return "0 s";
    if (ms < 1000) return `${(ms / 1000).toFixed(2).replace(/0$/, "")} s`;
    if (ms < 60000) return `${+(ms / 1000).toFixed(1)} s`;
    return `${Math.floor(ms / 60000)} min${ms % 60000 ? ` ${Math.round((ms % 60000) / 1000)} s` : ""}`;
  }

  // The end cap of a bar: one shape per outcome, so the outcome reads without colour too.
  function cap(kind, x, y, size) {
    const r = Math.max(2, Math.min(5, size / 2));
    const c = COLOURS[kind];
    switch (kind) {
      case "completed":
        return `<circle cx="${x}" cy="${y}" r="${r}" fill="${c}" stroke="#fff" stroke-width="1"/>`;
      case "timeout":
        return `<rect x="${x - r}" y="${y - r}" width="${2 * r}" height="${2 * r}" fill="${c}" stroke="#fff" stroke-width="1"/>`;
      case "failed":
        return `<path d="M${x - r} ${y - r}L${x + r} ${y + r}M${x + r} ${y - r}L${x - r} ${y + r}" stroke="${c}" stroke-width="2.2" stroke-linecap="round"/>`;
      case "crashed":
        return `<path d="M${x} ${y - r - 1}L${x + r + 1} ${y}L${x} ${y + r + 1}L${x - r - 1} ${y}Z" fill="${c}" stroke="#fff" stroke-width="1"/>`;
      case "cancelled":
        return `<circle cx="${x}" cy="${y}" r="${r}" fill="#fff" stroke="${c}" stroke-width="1.5"/><path d="M${x - r * 0.7} ${y + r * 0.7}L${x + r * 0.7} ${y - r * 0.7}" stroke="${c}" stroke-width="1.5"/>`;
      default:
        return "";
    }
  }

  function niceTick(span, width) {
    const wanted = span / Math.max(2, width / 90);
    return TICKS_MS.find((tick) => tick >= wanted) || TICKS_MS[TICKS_MS.length - 1];
  }

  // Running and waiting counts over time, as step points [[t, n], ...].
  function counts(tasks, now) {
    const running = [];
    const waiting = [];
    for (const task of tasks) {
      const started = task.runningAt ?? null;
      const ended = task.endedAt ?? null;
      if (started !== null) {
        running.push([started, 1]);
        running.push([ended ?? now, -1]);
      }
      waiting.push([task.queuedAt, 1]);
      waiting.push([started ?? ended ?? now, -1]);
    }
    const steps = (changes) => {
      // Changes a few milliseconds apart are one step: a task ends and the next
      // one starts in the same frame batch, and the count never really dipped.
      changes.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
      let n = 0;
      let max = 0;
      const points = [];
      changes.forEach(([t, d], index) => {
        n += d;
        const next = changes[index + 1];
        if (next && next[0] - t < COALESCE_MS) return;
        max = Math.max(max, n);
        points.push([t, n]);
      });
      return { points, max };
    };
    return { running: steps(running), waiting: steps(waiting) };
  }

  function stepPath(points, x, y, start, end) {
    let d = `M${x(start)} ${y(0)}`;
    let last = 0;
    for (const [t, n] of points) {
      d += `L${x(t)} ${y(last)}L${x(t)} ${y(n)}`;
      last = n;
    }
    d += `L${x(end)} ${y(last)}L${x(end)} ${y(0)}Z`;
    return d;
  }

  function render(container, model) {
    const width = Math.max(320, Math.floor(container.clientWidth || 600));
    const tasks = model.tasks;
    const now = model.now;
    // Lanes grow with the tasks up to LANES_MAX, then get thinner.
    const LANES = Math.min(LANES_MAX, Math.max(LANES_MIN, tasks.length * LANE_MAX));
    const height = AXIS + LANES + 2 * (STRIP + STRIP_GAP) + 16;
    const plot = width - GUTTER - RIGHT;

    const times = [
      ...tasks.map((t) => t.queuedAt),
      ...model.refusals.map((r) => r.at),
      ...model.markers.map((m) => m.at),
    ];
    const live = tasks.some((t) => t.endedAt === undefined);
    const start = times.length ? Math.min(...times) : now;
    const lastEnd = Math.max(start, ...tasks.map((t) => t.endedAt ?? now), ...times);
    const end = Math.max(live ? now : lastEnd, start + MIN_SPAN_MS);
    const span = end - start;
    const x = (t) => +(GUTTER + ((t - start) / span) * plot).toFixed(1);

    const lane = tasks.length ? Math.max(2, Math.min(LANE_MAX, Math.floor(LANES / tasks.length))) : LANE_MAX;
    const bar = Math.max(1.5, lane >= 8 ? lane - 6 : lane - 0.5);
    const labelEvery = lane >= 12 ? 1 : Math.ceil(12 / lane);

    const parts = [];
    parts.push(
      `<defs><pattern id="pg-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
        `<rect width="6" height="6" fill="#eef0f2"/><line x1="0" y1="0" x2="0" y2="6" stroke="${COLOURS.queued}" stroke-width="2"/></pattern></defs>`,
    );

    // Time axis and grid.
    const tick = niceTick(span, plot);
    parts.push(`<g class="tl-axis">`);
    for (let t = 0; t <= span + 1; t += tick) {
      const tx = x(start + t);
      parts.push(`<line x1="${tx}" y1="${AXIS - 4}" x2="${tx}" y2="${height - 14}" stroke="#eceef0"/>`);
      parts.push(`<text x="${tx}" y="${AXIS - 8}" text-anchor="middle">${seconds(t)}</text>`);
    }
    parts.push(`</g>`);

    // Lanes.
    const laneTop = AXIS;
    if (!tasks.length) {
      parts.push(`<text class="tl-empty" x="${GUTTER + plot / 2}" y="${laneTop + LANES / 2}" text-anchor="middle">Tasks appear here as you enqueue them.</text>`);
    }
    tasks.forEach((task, index) => {
      const y = laneTop + index * lane;
      const mid = +(y + lane / 2).toFixed(1);
      const top = +(mid - bar / 2).toFixed(1);
      const title = `<title>${escape(task.label)}: ${escape(task.kind)}</title>`;
      const parts2 = [];
      if (index % labelEvery === 0) {
        parts.push(`<text class="tl-label" x="${GUTTER - 6}" y="${mid + 3.5}" text-anchor="end">#${escape(task.id)}</text>`);
      }
      const waitEnd = task.runningAt ?? task.endedAt ?? now;
      const waitWidth = x(waitEnd) - x(task.queuedAt);
      if (waitWidth >= 1.5 || task.runningAt === undefined) {
        parts2.push(`<rect class="tl-wait" x="${x(task.queuedAt)}" y="${top}" width="${Math.max(1, waitWidth).toFixed(1)}" height="${bar}" fill="url(#pg-hatch)" rx="1"/>`);
      }
      if (task.runningAt !== undefined) {
        const runEnd = task.endedAt ?? now;
        const colour = task.endedAt === undefined ? COLOURS.running : COLOURS[task.kind] || COLOURS.running;
        const runWidth = Math.max(1.2, x(runEnd) - x(task.runningAt));
        const faded = task.kind === "cancelled" ? ` fill-opacity="0.45"` : "";
        parts2.push(`<rect class="tl-run" x="${x(task.runningAt)}" y="${top}" width="${runWidth.toFixed(1)}" height="${bar}" fill="${colour}"${faded} rx="1"/>`);
      }
      if (task.endedAt !== undefined) parts2.push(cap(task.kind, x(task.endedAt), mid, bar + 2));
      parts.push(`<g class="tl-task" data-kind="${escape(task.kind)}">${title}${parts2.join("")}</g>`);
    });

    // A change of customer: everything pending was cancelled there (S14).
    for (const marker of model.markers) {
      const mx = x(marker.at);
      parts.push(
        `<g class="tl-marker"><line x1="${mx}" y1="${AXIS - 2}" x2="${mx}" y2="${laneTop + LANES}" stroke="${COLOURS.record}" stroke-dasharray="3 3"/>` +
          `<text x="${mx + 4}" y="${laneTop + LANES - 4}">${escape(marker.label)}</text></g>`,
      );
    }

    // Refused enqueues, on the axis.
    for (const refusal of model.refusals) {
      const rx = x(refusal.at);
      parts.push(
        `<g class="tl-refusal"><title>${escape(refusal.label)}</title>` +
          `<path d="M${rx - 5} ${AXIS - 1}L${rx + 5} ${AXIS - 1}L${rx} ${AXIS + 8}Z" fill="${COLOURS.refused}"/></g>`,
      );
    }

    // Count strips: running against its limit, then waiting.
    const { running, waiting } = counts(tasks, now);
    const limit = model.maxRunning;
    const strips = [
      { name: "running", top: laneTop + LANES + STRIP_GAP, max: Math.max(limit, running.max), data: running, colour: COLOURS.running, limit },
      { name: "waiting", top: laneTop + LANES + 2 * STRIP_GAP + STRIP, max: Math.max(1, waiting.max), data: waiting, colour: COLOURS.queued },
    ];
    for (const strip of strips) {
      const y = (n) => +(strip.top + STRIP - (n / strip.max) * (STRIP - 2)).toFixed(1);
      parts.push(`<g class="tl-strip" data-strip="${strip.name}">`);
      parts.push(`<rect x="${GUTTER}" y="${strip.top}" width="${plot}" height="${STRIP}" fill="#fafbfc" stroke="#eceef0"/>`);
      parts.push(`<text class="tl-label" x="${GUTTER - 6}" y="${strip.top + STRIP / 2 + 3.5}" text-anchor="end">${strip.name}</text>`);
      if (strip.data.points.length) {
        const fill = strip.name === "waiting" ? "url(#pg-hatch)" : strip.colour;
        const opacity = strip.name === "running" ? ` fill-opacity="0.8"` : "";
        parts.push(`<path d="${stepPath(strip.data.points, x, y, start, live ? now : end)}" fill="${fill}"${opacity}/>`);
      }
      if (strip.limit) {
        const ly = y(strip.limit);
        parts.push(`<line x1="${GUTTER}" y1="${ly}" x2="${GUTTER + plot}" y2="${ly}" stroke="${COLOURS.failed}" stroke-dasharray="5 3"/>`);
        parts.push(`<text class="tl-limit" x="${GUTTER + plot - 4}" y="${ly - 3}" text-anchor="end">limit: ${strip.limit} at once</text>`);
      } else if (strip.data.max) {
        parts.push(`<text class="tl-limit" x="${GUTTER + plot - 4}" y="${strip.top + 10}" text-anchor="end">most: ${strip.data.max}</text>`);
      }
      parts.push(`</g>`);
    }

    if (live) {
      const nx = x(now);
      parts.push(`<line class="tl-now" x1="${nx}" y1="${AXIS - 4}" x2="${nx}" y2="${height - 14}" stroke="#242424" stroke-opacity="0.35"/>`);
    }

    let svg = container.querySelector("svg");
    if (!svg) {
      svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("role", "img");
      container.replaceChildren(svg);
    }
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("aria-label", `${tasks.length} tasks over ${seconds(Math.round(span))}`);
    svg.innerHTML = parts.join("");
  }

  bcpages.timeline = { render, COLOURS };
})((window.bcpages = window.bcpages || {}));
