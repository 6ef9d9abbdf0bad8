"""HTTP views: pages rendered with their synchronous fields, and the JSON page API.

A page's HTML holds what is known at once (the record's own fields) and a loading
state for fields that background tasks fill in (S33); the browser then opens the
websocket and the parent session takes over.
"""

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from bcpages.fields import LOADING, OK
from bcpages.pages import PageNotAllowed, UnknownPage, UnknownRecord, get_page_class
from bcpages.synchronous import run_page
from tasks.bindings import fields_for as binding_fields


def _page_or_404(page_name, record_key):
    try:
        page_class = get_page_class(page_name)
        return page_class, page_class.get_record(record_key)
    except (UnknownPage, UnknownRecord) as exc:
        raise Http404(str(exc)) from None


def _refusal(request, page_class):
    """None when the user may open ``page_class`` (``Page.check_access``); else a 404
    for a page switched off, or the admin login for one that needs another user."""
    try:
        page_class.check_access(request.user)
    except PageNotAllowed as exc:
        if exc.hidden:
            raise Http404(exc.text) from None
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    return None


def page_view(request, page_name, no=""):
    page_class, record = _page_or_404(page_name, no)
    return _refusal(request, page_class) or render_page(request, page_class, record)


def render_page(request, page_class, record, values=None):
    """Render ``page_class`` on ``record``. Without ``values`` (the usual case) task
    fields render as loading; with them (already computed) every field is final."""
    fields = []
    # The page's own fields, then those of administrators' bindings (tasks.bindings).
    for name, field in {**page_class.fields, **binding_fields(page_class.name)}.items():
        if values is not None:
            value, state = values.get(name, ""), OK
        else:
            value = field.read(record) if (field.source and record is not None) else ""
            state = LOADING if field.codeunit is not None else OK
        fields.append({"name": name, "caption": field.caption, "value": value, "part": field.part, "state": state})
    context = {
        "page": page_class,
        "page_name": page_class.name,
        "record": record,
        "record_key": page_class.record_key(record) if record is not None else "",
        "fields": fields,
        "parts": _parts(fields),
        "actions": page_class.actions,
    }
    return render(request, page_class.template, context)


def _parts(fields):
    parts = {}
    for field in fields:
        parts.setdefault(field["part"] or "", []).append(field)
    return parts


def customer_list(request):
    from bcpages.demo.models import Customer

    customers = Customer.objects.only("no", "name", "city").order_by("no")
    return render(request, "bcpages/customer_list.html", {"customers": customers})


@csrf_exempt  # GET only: another method gets a JSON 405 below, not the CSRF page
def page_api(request, page_name, record):
    """S34: the page as JSON, every task run synchronously before the response."""
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            {"error": {"code": "MethodNotAllowed", "text": f"The page API answers GET only, not {request.method}."}}, status=405
        )
        response["Allow"] = "GET, HEAD"
        return response
    try:
        get_page_class(page_name).check_access(request.user)
    except PageNotAllowed as exc:
        return JsonResponse({"error": {"code": exc.code, "text": exc.text}}, status=404 if exc.hidden else 403)
    except UnknownPage:
        pass  # answered below, as for any page
    try:
        result = run_page(page_name, record, user=request.user)
    except (UnknownPage, UnknownRecord) as exc:
        code = "UnknownPage" if isinstance(exc, UnknownPage) else "UnknownRecord"
        return JsonResponse({"error": {"code": code, "text": str(exc)}}, status=404)
    return JsonResponse(result)
