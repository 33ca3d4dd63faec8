"""Documents and certificates: uploaded through the API, checked by content, stored once,
downloaded only by users who may see them."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from portfolio.models import Document
from tests.factories import PDF_BYTES, PNG_BYTES, AssetFactory, DocumentFactory, SiteFactory


def _upload(client, target_type: str, target_id: int, file, **fields):
    body = {
        "kind": "property_certificate",
        "title": "皖(2024)合肥市不动产权第0123456号",
        "target_type": target_type,
        "target_id": target_id,
        "file": file,
        **fields,
    }
    return client.post("/api/documents/", body, format="multipart")


def _download(client, url: str):
    response = client.get(url)
    content = b"".join(response.streaming_content) if response.status_code == 200 else None
    return response, content


def test_uploaded_pdf_is_stored_and_downloads_byte_for_byte(tree, manager_a, api, settings):
    # given
    asset = AssetFactory(company=tree.sub_a)
    client = api(manager_a)
    # when
    created = _upload(
        client, "asset", asset.pk, SimpleUploadedFile("产权证.pdf", PDF_BYTES, "application/pdf")
    )
    # then
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["attached_to"] == {"type": "asset", "id": asset.pk}
    assert (body["company"], body["mime_type"], body["size"]) == (
        tree.sub_a.pk,
        "application/pdf",
        len(PDF_BYTES),
    )
    assert body["sha256"] == hashlib.sha256(PDF_BYTES).hexdigest()
    assert body["original_name"] == "产权证.pdf"
    assert body["uploaded_by"] == manager_a.pk
    assert body["download_url"] == f"http://testserver/api/documents/{body['id']}/download/"
    stored = Document.objects.get(pk=body["id"])
    assert stored.file.path.startswith(str(settings.MEDIA_ROOT))
    # when
    response, content = _download(client, body["download_url"])
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    assert content == PDF_BYTES


def test_document_attaches_to_a_spatial_feature(tree, manager_a, api):
    # given
    site = SiteFactory(company=tree.sub_a)
    # when
    response = _upload(api(manager_a), "site", site.pk, SimpleUploadedFile("红线图.pdf", PDF_BYTES))
    # then
    assert response.status_code == 201, response.json()
    assert response.json()["attached_to"] == {"type": "site", "id": site.pk}
    assert list(Document.objects.filter(object_id=site.pk).values_list("company", flat=True)) == [
        tree.sub_a.pk
    ]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("certificate.pdf", PNG_BYTES),  # a PNG with a .pdf name
        ("photo.png", PDF_BYTES),  # and the other way round
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00"),  # not an accepted type
        ("no-extension", PDF_BYTES),
        ("empty.pdf", b""),
    ],
)
def test_unacceptable_files_are_a_400_naming_file(tree, manager_a, api, name, content):
    # given
    asset = AssetFactory(company=tree.sub_a)
    # when
    response = _upload(api(manager_a), "asset", asset.pk, SimpleUploadedFile(name, content))
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["file"]
    assert Document.objects.count() == 0


def test_file_above_the_size_limit_is_a_400_naming_file(tree, manager_a, api, settings):
    # given
    settings.DOCUMENT_MAX_BYTES = 100
    asset = AssetFactory(company=tree.sub_a)
    big = PDF_BYTES + b"%" * 200
    # when
    response = _upload(api(manager_a), "asset", asset.pk, SimpleUploadedFile("big.pdf", big))
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["file"]
    assert str(len(big)) in response.json()["file"][0]
    assert Document.objects.count() == 0


def test_rejected_upload_leaves_no_file_behind(tree, manager_a, api, settings):
    # given
    asset = AssetFactory(company=tree.sub_a)
    # when
    response = _upload(
        api(manager_a),
        "asset",
        asset.pk,
        SimpleUploadedFile("certificate.pdf", PDF_BYTES),
        issue_date="2025-06-01",
        expiry_date="2025-05-31",
    )
    # then
    assert response.status_code == 400
    assert Document.objects.count() == 0
    media = settings.MEDIA_ROOT
    assert not media.exists() or [p for p in media.rglob("*") if p.is_file()] == []


def test_expiry_before_issue_is_a_400(tree, manager_a, api):
    # given
    asset = AssetFactory(company=tree.sub_a)
    # when
    response = _upload(
        api(manager_a),
        "asset",
        asset.pk,
        SimpleUploadedFile("certificate.pdf", PDF_BYTES),
        issue_date="2025-06-01",
        expiry_date="2025-05-31",
    )
    # then
    assert response.status_code == 400
    assert response.json() == {"expiry_date": ["到期日期早于签发日期。"]}
    assert Document.objects.count() == 0


def test_user_of_another_company_cannot_attach_to_its_asset(tree, manager_b, api):
    # given
    asset_a = AssetFactory(company=tree.sub_a)
    # when
    response = _upload(api(manager_b), "asset", asset_a.pk, SimpleUploadedFile("x.pdf", PDF_BYTES))
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["target_id"]
    assert Document.objects.count() == 0


def test_user_of_another_company_cannot_download_its_document(tree, manager_b, api):
    # given
    document = DocumentFactory(target=AssetFactory(company=tree.sub_a))
    # when
    response, content = _download(api(manager_b), f"/api/documents/{document.pk}/download/")
    # then
    assert response.status_code == 404
    assert content is None


def test_anonymous_user_cannot_download_a_document(tree, api):
    # given
    document = DocumentFactory(target=AssetFactory(company=tree.sub_a))
    # when
    response, content = _download(api(), f"/api/documents/{document.pk}/download/")
    # then
    assert response.status_code == 403
    assert content is None


def test_read_only_user_of_the_company_can_download(tree, readonly_a, api):
    # given
    document = DocumentFactory(target=AssetFactory(company=tree.sub_a))
    # when
    response, content = _download(api(readonly_a), f"/api/documents/{document.pk}/download/")
    # then
    assert response.status_code == 200
    assert content == PDF_BYTES


def test_documents_filter_by_target(tree, manager_a, api):
    # given
    asset = AssetFactory(company=tree.sub_a)
    mine = DocumentFactory(target=asset)
    DocumentFactory(target=AssetFactory(company=tree.sub_a))
    # when
    response = api(manager_a).get(
        "/api/documents/", {"target_type": "asset", "target_id": asset.pk}
    )
    # then
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


def test_document_file_cannot_be_replaced(tree, manager_a, api):
    # given
    document = DocumentFactory(target=AssetFactory(company=tree.sub_a))
    # when
    response = api(manager_a).patch(
        f"/api/documents/{document.pk}/",
        {"file": SimpleUploadedFile("other.pdf", PDF_BYTES + b"%")},
        format="multipart",
    )
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["file"]
    document.refresh_from_db()
    assert document.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
