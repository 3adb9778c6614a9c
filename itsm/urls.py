from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from itsm import api, views
from itsm.analytics import api as analytics_api
from itsm.analytics import views as analytics_views

core_patterns = [
    path("notifications/", views.notification_list, name="notification-list"),
    path("notifications/bell/", views.notification_bell, name="notification-bell"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("notifications/read-all/", views.notification_read_all, name="notification-read-all"),
]

api_patterns = [
    path("me/", api.me, name="api-me"),
    path("kpis/", analytics_api.kpi_summary, name="api-kpis"),
    path("kpis/timeseries/", analytics_api.kpi_timeseries, name="api-kpis-timeseries"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("itsm.approvals.api_urls")),
    path("", include("tickets.api_urls")),
    path("", include("cmdb.api_urls")),
    path("", include("sla.api_urls")),
    path("", include("problems.api_urls")),
    path("", include("changes.api_urls")),
    path("", include("integrations.api_urls")),
    path("", include("ai.api_urls")),
    path("", include("runbooks.api_urls")),
]

urlpatterns = [
    path("", views.root, name="root"),
    path("home/", views.home, name="home"),
    path("dashboard/", analytics_views.dashboard, name="dashboard"),
    path("dashboard/compare/", analytics_views.dashboard_compare, name="dashboard-compare"),
    path("dashboard/<slug:table>.csv", analytics_views.dashboard_csv, name="dashboard-csv"),
    path("dashboard/panel/<slug:panel>/", analytics_views.dashboard_panel, name="dashboard-panel"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("itsm.security.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include(api_patterns)),
    path("", include((core_patterns, "itsm"))),
    path("approvals/", include("itsm.approvals.urls")),
    path("tickets/", include("tickets.urls")),
    path("cmdb/", include("cmdb.urls")),
    path("sla/", include("sla.urls")),
    path("problems/", include("problems.urls")),
    path("changes/", include("changes.urls")),
    path("integrations/", include("integrations.urls")),
    path("ai/", include("ai.urls")),
    path("runbooks/", include("runbooks.urls")),
]
handler400 = "itsm.views.bad_request"
handler403 = "itsm.views.permission_denied"
handler404 = "itsm.views.page_not_found"
handler500 = "itsm.views.server_error"
# Media (attachments, exports) is never served as static files: downloads go through views
# that check permissions.
