from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView

from config import views
from config.accounts import views as account_views
from leads.integrations.api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/", account_views.two_factor, name="two_factor"),
    path("accounts/two-factor/verify/", account_views.verify, name="two_factor_verify"),
    path("matrix/", include("scoring.urls")),
    path("leads/", include("leads.urls")),
    path("imports/", include("leads.imports.urls")),
    path("", include("feedback.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]

if settings.LEADMATRIX["BENCH_ROUTES"]:
    # The baseline for `manage.py bench_queue`: the cheapest page Django can serve with a template.
    urlpatterns.append(path("bench/bare/", TemplateView.as_view(template_name="bench/bare.html")))
