from django.urls import path

from scoring import views

app_name = "scoring"
urlpatterns = [
    path("", views.active_matrix, name="active"),
    path("versions/", views.versions, name="versions"),
    path("v<int:version>/", views.version_detail, name="version"),
    path("rescores/<int:pk>/", views.rescore_progress, name="rescore"),
    # Changing the matrix together.
    path("v<int:version>/start-draft/", views.start_draft, name="start_draft"),
    path("v<int:version>/draft/", views.draft_editor, name="draft"),
    path("v<int:version>/items/<slug:kind>/<int:pk>/", views.show_item, name="show_item"),
    path("v<int:version>/items/<slug:kind>/<int:pk>/edit/", views.edit_item, name="edit_item"),
    path("v<int:version>/criteria/new/", views.add_criterion, name="add_criterion"),
    path("v<int:version>/criteria/<int:pk>/delete/", views.delete_criterion, name="delete_criterion"),
    path("v<int:version>/propose/", views.propose, name="propose"),
    path("v<int:version>/history/", views.history, name="history"),
    path("v<int:version>/history/<slug:kind>/<int:pk>/", views.item_history, name="item_history"),
    path("proposals/", views.proposals, name="proposals"),
    path("proposals/<int:pk>/", views.proposal_detail, name="proposal"),
    path("proposals/<int:pk>/preview/", views.proposal_preview, name="proposal_preview"),
    path("proposals/<int:pk>/preview/refresh/", views.refresh_preview, name="refresh_preview"),
    path("proposals/<int:pk>/approve/", views.approve, name="approve"),
    path("proposals/<int:pk>/reject/", views.reject, name="reject"),
    path("proposals/<int:pk>/comment/", views.comment, name="comment"),
    path("proposals/<int:pk>/publish/", views.publish, name="publish"),
]
