from django.urls import path

from leads.imports import views

app_name = "imports"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.job_page, name="job"),
    path("<int:pk>/mapping/", views.mapping, name="mapping"),
    path("<int:pk>/preview/", views.preview, name="preview"),
    path("<int:pk>/start/", views.start, name="start"),
    path("<int:pk>/rejected.csv", views.rejected_csv, name="rejected"),
]
