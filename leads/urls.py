from django.urls import path

from leads import views

app_name = "leads"
urlpatterns = [
    path("", views.lead_list, name="list"),
    path("export.csv", views.lead_export, name="export"),
    path("queue/", views.queue, name="queue"),
    path("queue/arrivals/", views.queue_arrivals, name="arrivals"),
    path("queue/assign/", views.assign, name="assign"),
    path("queue/round-robin/", views.assign_round_robin, name="round_robin"),
    path("team/", views.team, name="team"),
    path("<int:pk>/", views.lead_detail, name="detail"),
    path("<int:pk>/claim/", views.claim, name="claim"),
]
