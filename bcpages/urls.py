from django.contrib import admin
from django.urls import path

from bcpages import views

urlpatterns = [
    path("", views.page_view, {"page_name": "role-center"}, name="role-center"),
    path("customers/", views.customer_list, name="customer-list"),
    path("customers/<str:no>/", views.page_view, {"page_name": "customer-card"}, name="customer-card"),
    path("api/pages/<str:page_name>/<str:record>/", views.page_api, name="page-api"),
    path("api/pages/<str:page_name>/", views.page_api, {"record": ""}, name="page-api-no-record"),
    path("admin/", admin.site.urls),
]
