from django.contrib import admin
from django.urls import path

from bcpages import views
from tasks.metrics import metrics_view

urlpatterns = [
    path("", views.page_view, {"page_name": "role-center"}, name="role-center"),
    path("customers/", views.customer_list, name="customer-list"),
    path("customers/<str:no>/", views.page_view, {"page_name": "customer-card"}, name="customer-card"),
    # The playground opens on the first customer, or on the one in the address.
    path("playground/", views.page_view, {"page_name": "playground"}, name="playground"),
    path("playground/<str:no>/", views.page_view, {"page_name": "playground"}, name="playground"),
    path("api/pages/<str:page_name>/<str:record>/", views.page_api, name="page-api"),
    path("api/pages/<str:page_name>/", views.page_api, {"record": ""}, name="page-api-no-record"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]
