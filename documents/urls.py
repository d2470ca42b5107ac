from __future__ import annotations

from django.urls import path

from documents import views

app_name = "documents"

urlpatterns = [
    path("c/<slug:slug>/documents/", views.document_list, name="list"),
    path("c/<slug:slug>/documents/upload", views.document_upload, name="upload"),
    path("c/<slug:slug>/documents/<int:document_id>/", views.document_viewer, name="viewer"),
    path("c/<slug:slug>/documents/<int:document_id>/status", views.document_status, name="status"),
    path(
        "c/<slug:slug>/documents/<int:document_id>/download",
        views.document_download,
        name="download",
    ),
    path(
        "c/<slug:slug>/documents/<int:document_id>/pages/<int:number>.png",
        views.document_page_image,
        name="page_image",
    ),
    path("c/<slug:slug>/documents/<int:document_id>/retry", views.document_retry, name="retry"),
    path("c/<slug:slug>/documents/<int:document_id>/delete", views.document_delete, name="delete"),
]
