"""The pages of scenario "page open": the card as the product serves it, and the
synchronous view Business Central's feature exists to avoid."""

from bcpages.pages import get_page_class
from bcpages.synchronous import run_page
from bcpages.views import page_view, render_page


def card(request, page_name, no):
    return page_view(request, page_name, no)


def card_inline(request, no):
    """Computes every statistic before responding (its tasks run synchronously)."""
    page_class = get_page_class("customer-card")
    result = run_page("customer-card", no)
    return render_page(request, page_class, page_class.get_record(no), values=result["fields"])
