from django.urls import path

from feedback import report_views, views

app_name = "feedback"
urlpatterns = [
    path("leads/<int:pk>/outcome/", views.log_outcome, name="outcome"),
    path("reasons/", views.reasons, name="reasons"),
    path("reasons/<int:pk>/rename/", views.rename_reason, name="rename_reason"),
    path("reasons/<int:pk>/toggle/", views.toggle_reason, name="toggle_reason"),
    path("notifications/", views.notifications, name="notifications"),
    # Whether scoring works, and improving it from evidence.
    path("reports/", report_views.index, name="reports"),
    path("reports/matrix/", report_views.matrix_report, name="report_matrix"),
    path("reports/funnel/", report_views.funnel_report, name="report_funnel"),
    path("reports/speed/", report_views.speed_report, name="report_speed"),
    path("reports/rejections/", report_views.rejections_report, name="report_rejections"),
    path("reports/before-after/", report_views.before_after, name="report_before_after"),
    path("calibration/", report_views.calibration, name="calibration"),
    path("calibration/<int:pk>/draft/", report_views.calibration_draft, name="calibration_draft"),
    path("playbook/", report_views.playbook, name="playbook"),
]
