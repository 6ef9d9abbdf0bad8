"""The pages of scenario "page open": the card as the product serves it, and the
synchronous view Business Central's feature exists to avoid; and the counter of
scenario 4 (cancellation)."""

from django.http import HttpResponseForbidden, JsonResponse

from bcpages.pages import get_page_class
from bcpages.synchronous import run_page
from bcpages.views import page_view, render_page
from tasks import metrics


def card(request, page_name, no):
    return page_view(request, page_name, no)


def card_inline(request, no):
    """Computes every statistic before responding (its tasks run synchronously)."""
    page_class = get_page_class("customer-card")
    result = run_page("customer-card", no)
    return render_page(request, page_class, page_class.get_record(no), values=result["fields"])


def late_outcomes(request):
    """{outcome state: count}: the outcomes this process's parent sessions dropped
    because their task had already ended (cancelled), since it started. From the
    machine itself only, like /metrics."""
    if request.META.get("REMOTE_ADDR") not in metrics.LOCAL_ADDRESSES:
        return HttpResponseForbidden("From this machine only.\n", content_type="text/plain; charset=utf-8")
    return JsonResponse(metrics.late_outcomes_dropped())
