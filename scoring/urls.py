from django.urls import path

from scoring import views

app_name = "scoring"
urlpatterns = [
    path("", views.active_matrix, name="active"),
    path("versions/", views.versions, name="versions"),
    path("v<int:version>/", views.version_detail, name="version"),
    path("rescores/<int:pk>/", views.rescore_progress, name="rescore"),
]
