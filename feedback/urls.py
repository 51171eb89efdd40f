from django.urls import path

from feedback import views

app_name = "feedback"
urlpatterns = [
    path("leads/<int:pk>/outcome/", views.log_outcome, name="outcome"),
    path("reasons/", views.reasons, name="reasons"),
    path("reasons/<int:pk>/rename/", views.rename_reason, name="rename_reason"),
    path("reasons/<int:pk>/toggle/", views.toggle_reason, name="toggle_reason"),
    path("notifications/", views.notifications, name="notifications"),
]
