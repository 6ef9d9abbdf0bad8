from django.urls import path

from bcpages.urls import urlpatterns as product_urls
from bench import views

urlpatterns = [
    path("bench/card/<str:page_name>/<str:no>/", views.card, name="bench-card"),
    path("bench/card-inline/<str:no>/", views.card_inline, name="bench-card-inline"),
    path("bench/late-outcomes/", views.late_outcomes, name="bench-late-outcomes"),
    *product_urls,
]
