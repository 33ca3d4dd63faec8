# ruff: noqa: F811 - the fixtures shared from tests/test_invoicing.py are imported by name
"""The invoicing API: every endpoint anonymous, wrong company, wrong role and allowed;
bad input is a 400 naming the field; list endpoints keep their query count."""

import json
from datetime import date
from decimal import Decimal as D

from django.core.files.uploadedfile import SimpleUploadedFile

from finance.collection.models import Receipt
from finance.invoicing import services
from finance.invoicing.models import AccountCode, BankLine, BankStatement, InvoiceRequest, Voucher
from tests.test_invoicing import (  # noqa: F401 - fixtures
    INVOICE_NO,
    _platform_dirs,
    bill_a,
    lease_a,
    post_bill,
    tenant_a,
    unit_a,
)
from tests.test_invoicing_bank import gbk_csv

BASE = "/api/finance"
EN = {"Accept-Language": "en"}


# -- invoice requests --------------------------------------------------------------------------


def test_invoice_request_endpoints_scope_and_roles(api, bill_a, finance_a, finance_b, manager_a):
    payload = {"bills": [bill_a.pk], "invoice_type": "special", "buyer_phone": "0551-12345678"}
    url = f"{BASE}/invoice-requests/"
    # anonymous, another company's finance, a role without finance writes: nothing made
    assert api().post(url, payload).status_code == 403
    assert api(finance_b).post(url, payload).status_code == 400  # the bill is not theirs to see
    assert api(manager_a).post(url, payload).status_code == 403
    assert InvoiceRequest.objects.count() == 0
    # allowed
    created = api(finance_a).post(url, payload)
    assert created.status_code == 201, created.data
    assert created.data["buyer_phone"] == "0551-12345678"
    assert [i["tax_code"] for i in created.data["items"]] == [
        "3040502020200000000", "3040802010000000000"]  # fmt: skip
    assert created.data["amount"] == "20400.00"
    # reads are scoped
    assert api(finance_b).get(url).data["count"] == 0
    assert api(manager_a).get(url).data["count"] == 1
    assert api(finance_b).get(f"{url}{created.data['id']}/").status_code == 404
    # a second request for the same bill is a 400 naming the field
    again = api(finance_a).post(url, payload, headers=EN)
    assert again.status_code == 400 and "Already on an invoice" in again.data["bills"][0]


def test_invoice_request_bad_input_names_the_field(api, bill_a, finance_a):
    url = f"{BASE}/invoice-requests/"
    response = api(finance_a).post(url, {"bills": [], "invoice_type": "special"})
    assert response.status_code == 400 and "bills" in response.data
    response = api(finance_a).post(url, {"bills": [bill_a.pk], "invoice_type": "paper"})
    assert response.status_code == 400 and "invoice_type" in response.data
    response = api(finance_a).post(url, {"bills": [999999], "invoice_type": "normal"})
    assert response.status_code == 400 and "bills" in response.data
    assert InvoiceRequest.objects.count() == 0


def test_invoice_workflow_over_the_api(api, bill_a, finance_a, finance_b, settings):
    url = f"{BASE}/invoice-requests/"
    pk = api(finance_a).post(url, {"bills": [bill_a.pk], "invoice_type": "normal"}).data["id"]
    # another company cannot submit it
    assert api(finance_b).post(f"{url}{pk}/submit/").status_code == 404
    submitted = api(finance_a).post(f"{url}{pk}/submit/")
    assert submitted.status_code == 200 and submitted.data["status"] == "submitted"
    assert len(list(settings.INVOICING_OUTBOX.glob("*.json"))) == 1
    # the result by hand: a bad number is a 400 naming it
    bad = api(finance_a).post(
        f"{url}{pk}/result/", {"issued": True, "invoice_number": "12", "invoice_date": "2025-01-05"}
    )
    assert bad.status_code == 400 and "invoice_number" in bad.data
    ok = api(finance_a).post(
        f"{url}{pk}/result/",
        {"issued": True, "invoice_number": INVOICE_NO, "invoice_date": "2025-01-05"},
    )
    assert ok.data["status"] == "issued"
    # issued invoices are listed
    listed = api(finance_a).get(f"{BASE}/invoices/")
    assert [r["invoice_number"] for r in listed.data["results"]] == [INVOICE_NO]
    # red letter
    assert api(finance_a).post(f"{url}{pk}/red-reverse/", {}).status_code == 400
    red = api(finance_a).post(f"{url}{pk}/red-reverse/", {"reason": "税号错误"})
    assert red.status_code == 201 and red.data["kind"] == "red"
    assert red.data["original_number"] == INVOICE_NO and red.data["amount"] == "-20400.00"
    # cancel a draft red request
    cancelled = api(finance_a).post(f"{url}{red.data['id']}/cancel/")
    assert cancelled.data["status"] == "cancelled"


def test_invoice_request_list_query_count(api, lease_a, finance_a, django_assert_num_queries):
    months = iter(range(100))

    def listed(n):
        for _ in range(n):
            i = next(months)
            bill = post_bill(lease_a, start=date(2025 + i // 12, i % 12 + 1, 1),
                             end=date(2025 + i // 12, i % 12 + 1, 28))  # fmt: skip
            services.invoice_request_create(bills=[bill], invoice_type="normal")
        client = api(type(finance_a).objects.get(pk=finance_a.pk))  # nothing cached on it
        with django_assert_num_queries(QUERIES):
            response = client.get(f"{BASE}/invoice-requests/")
        return response.data["count"]

    assert listed(2) == 2
    assert listed(5) == 7


QUERIES = 6  # memberships, scope, count, page, items, their bills


# -- bank statements ---------------------------------------------------------------------------


def _upload(content: bytes, name: str = "statement.csv"):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_bank_statement_upload_and_manual_match(api, tree, bill_a, finance_a, finance_b, manager_a):
    rows = [["交易日期", "贷方金额", "对方户名", "摘要", "交易流水号"],
            ["2025-01-08", "20400.00", "合肥某科技", "房租", "S1"]]  # fmt: skip
    url = f"{BASE}/bank-statements/"

    def body(company):
        return {"company": company.pk, "file": _upload(gbk_csv(rows))}

    assert api().post(url, body(tree.sub_a), format="multipart").status_code == 403
    assert api(manager_a).post(url, body(tree.sub_a), format="multipart").status_code == 403
    # another company's finance: the company is outside their scope
    response = api(finance_b).post(url, body(tree.sub_a), format="multipart")
    assert response.status_code == 400 and "company" in response.data
    assert BankStatement.objects.count() == 0
    created = api(finance_a).post(url, body(tree.sub_a), format="multipart")
    assert created.status_code == 201, created.data
    assert created.data["lines_added"] == 1
    # the line is suggested (amount and name, no reference)
    lines = api(finance_a).get(f"{BASE}/bank-lines/", {"status": "suggested"}).data["results"]
    assert len(lines) == 1 and lines[0]["suggested_bill"] == bill_a.pk
    assert lines[0]["confidence"] == 50 and len(lines[0]["reasons"]) == 2
    assert api(finance_b).get(f"{BASE}/bank-lines/").data["count"] == 0
    line_url = f"{BASE}/bank-lines/{lines[0]['id']}/"
    # matching: nothing given, another company, not allowed
    assert api(finance_a).post(f"{line_url}match/", {}).status_code == 400
    assert api(finance_b).post(f"{line_url}match/", {"bill": bill_a.pk}).status_code == 404
    assert api(manager_a).post(f"{line_url}match/", {"bill": bill_a.pk}).status_code == 403
    assert Receipt.objects.count() == 0
    matched = api(finance_a).post(f"{line_url}match/", {"bill": bill_a.pk})
    assert matched.status_code == 200 and matched.data["status"] == "matched"
    assert Receipt.objects.get().amount == D("20400.00")
    # twice: a 400 naming the status, and no second receipt
    twice = api(finance_a).post(f"{line_url}match/", {"bill": bill_a.pk})
    assert twice.status_code == 400 and "status" in twice.data
    assert Receipt.objects.count() == 1


def test_bank_statement_bad_file_is_a_400_naming_file(api, tree, finance_a):
    url = f"{BASE}/bank-statements/"
    response = api(finance_a).post(
        url, {"company": tree.sub_a.pk, "file": _upload(b"a,b\n1,2\n")}, format="multipart"
    )
    assert response.status_code == 400 and "file" in response.data
    response = api(finance_a).post(
        url, {"company": tree.sub_a.pk, "file": _upload(b"x"), "mapping": "{bad"},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 400 and "mapping" in response.data
    assert BankLine.objects.count() == 0


# -- vouchers and account codes ----------------------------------------------------------------


def test_vouchers_generate_and_export(api, tree, bill_a, finance_a, finance_b, manager_a):
    url = f"{BASE}/vouchers/"
    assert api().post(f"{url}generate/", {"period": "2025-01"}).status_code == 403
    assert api(manager_a).post(f"{url}generate/", {"period": "2025-01"}).status_code == 403
    # another company's finance generates nothing of sub_a
    assert api(finance_b).post(f"{url}generate/", {"period": "2025-01"}).data["created"] == 0
    assert Voucher.objects.count() == 0
    bad = api(finance_a).post(f"{url}generate/", {"period": "2025/01"})
    assert bad.status_code == 400 and "period" in bad.data
    made = api(finance_a).post(f"{url}generate/", {"period": "2025-01"})
    assert made.status_code == 201 and made.data == {"created": 1}
    assert api(finance_a).post(f"{url}generate/", {"period": "2025-01"}).data == {"created": 0}
    listed = api(finance_a).get(url).data["results"]
    assert len(listed) == 1 and len(listed[0]["entries"]) == 4
    assert api(finance_b).get(url).data["count"] == 0
    # export
    csv_text = api(finance_a).get(f"{url}export/", {"period": "2025-01", "format": "csv"})
    assert csv_text.status_code == 200 and csv_text["Content-Type"].startswith("text/csv")
    assert len(csv_text.content.decode("utf-8-sig").strip().splitlines()) == 5
    as_json = api(finance_a).get(f"{url}export/", {"period": "2025-01", "format": "json"})
    assert json.loads(as_json.content)[0]["total"] == "20400.00"
    assert (
        json.loads(
            api(finance_b).get(f"{url}export/", {"period": "2025-01", "format": "json"}).content
        )
        == []
    )
    for params, field in (({}, "period"), ({"period": "2025-01", "format": "xml"}, "format")):
        response = api(finance_a).get(f"{url}export/", params)
        assert response.status_code == 400 and field in response.json()


def test_account_codes_endpoint(api, tree, finance_a, finance_b, group_admin):
    url = f"{BASE}/account-codes/"
    assert api(finance_a).get(url).status_code == 200
    assert len(api(finance_a).get(url).data) == 8  # the group defaults are visible to all
    payload = {"company": tree.sub_a.pk, "key": "bank", "code": "1002.01", "name": "银行存款-建行"}
    assert api().post(url, payload).status_code == 403
    assert api(finance_b).post(url, payload).status_code == 400  # sub_a is out of their scope
    created = api(finance_a).post(url, payload)
    assert created.status_code == 201, created.data
    dup = api(finance_a).post(url, payload)
    assert dup.status_code == 400
    # the group defaults are changed only by the group
    default = AccountCode.objects.get(company=None, key="bank")
    denied = api(finance_a).patch(f"{url}{default.pk}/", {"code": "1002.99"})
    assert denied.status_code == 403
    assert AccountCode.objects.get(pk=default.pk).code == "1002"
    allowed = api(group_admin).patch(f"{url}{default.pk}/", {"code": "1002.99"})
    assert allowed.status_code == 200 and allowed.data["code"] == "1002.99"
    bad = api(group_admin).patch(f"{url}{default.pk}/", {"code": "10 02"})
    assert bad.status_code == 400 and "code" in bad.data


def test_rematch_confirms_lines_once_their_bill_is_posted(api, tree, lease_a, finance_a, finance_b):
    # given a payment naming the contract before its bill was posted
    rows = [
        ["交易日期", "贷方金额", "对方户名", "摘要", "交易流水号"],
        ["2025-01-08", "20400.00", "合肥某科技有限公司", "HT-2025-001 一季度", "S9"],
    ]
    statement = services.bank_statement_import(
        company=tree.sub_a, content=gbk_csv(rows), file_name="s.csv"
    )
    line = statement.lines.get()
    assert (line.status, line.confidence) == ("unmatched", 0)
    bill = post_bill(lease_a)
    # another company's finance rematches nothing of sub_a
    assert api(finance_b).post(f"{BASE}/bank-lines/rematch/").data["matched"] == 0
    # when rematched: contract number 35 + amount 30 + name 20 = 85, over the threshold
    counts = api(finance_a).post(f"{BASE}/bank-lines/rematch/").data
    line.refresh_from_db()
    assert counts == {"matched": 1, "suggested": 0, "unmatched": 0}
    assert (line.status, line.confidence) == ("matched", 85)
    assert line.receipt.allocations.get().bill_id == bill.pk
    assert api(finance_a).post(f"{BASE}/bank-lines/rematch/").data["matched"] == 0
