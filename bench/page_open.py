"""Scenario 3: how fast the customer card opens while its tasks take 2 s each,
beside the same card with no tasks, and beside a synchronous view that computes
the statistics before it responds (what page background tasks exist to avoid).

Measured in Debian's Chromium: time to the HTML (``responseEnd``) and to the
first contentful paint, which shows the synchronous fields."""

from bench.common import Figure

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMINGS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  return {html: nav.responseEnd, paint: paint ? paint.startTime : nav.domContentLoadedEventEnd};
}"""


def measure(browser, port, path, loads):
    """``loads`` loads of ``path`` in a fresh browser context (its own cache and
    cookies, as a fresh browser would have): the first cold, the others warm."""
    html, paint = [], []
    context = browser.new_context()
    try:
        for _ in range(loads):
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}{path}", wait_until="load")
            page.wait_for_function("() => performance.getEntriesByName('first-contentful-paint').length > 0", timeout=10_000)
            timing = page.evaluate(TIMINGS)
            page.close()
            html.append(timing["html"])
            paint.append(timing["paint"])
    finally:
        context.close()
    return html, paint


def figures(port, record, repeats, loads=5):
    """One browser for the scenario (a launch costs seconds), a fresh context for
    each measurement; the variants take turns within each repeat, so that a slow
    moment of the machine hits them alike."""
    import statistics

    from playwright.sync_api import sync_playwright

    variants = [
        ("card, tasks of 2 s each", f"/bench/card/bench-card-slow/{record}/"),
        ("baseline: card without tasks", f"/bench/card/bench-card-plain/{record}/"),
        ("synchronous card (statistics inline)", f"/bench/card-inline/{record}/"),
    ]
    rows = {label: (Figure("3 page open", f"{label}: HTML", "ms"), Figure("3 page open", f"{label}: first paint", "ms"))
            for label, _ in variants}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for _ in range(repeats):
                for label, path in variants:
                    h, p = measure(browser, port, path, loads)
                    rows[label][0].samples.append(statistics.median(h))
                    rows[label][1].samples.append(statistics.median(p))
        finally:
            browser.close()
    return [figure for pair in rows.values() for figure in pair]
