"""E-invoice requests from bills, the file tax platform round trip, red-letter reversal,
vouchers. The fixtures here are shared with tests/test_invoicing_bank.py and _api.py."""

import json
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import Sum

from finance.collection.models import Receipt
from finance.invoicing import services
from finance.invoicing.adapters import FileTaxPlatform
from finance.invoicing.models import (
    AccountCode,
    InvoiceRequest,
    InvoiceRequestItem,
    Voucher,
    VoucherEntry,
)
from finance.models import Bill
from finance.services import bill_post
from leasing import services as leasing_services
from tests.factories import BuildingFactory, DocumentFactory, FloorFactory, UnitFactory

USCC = "91340100MA4JURQ20P"
RIC = "11010519491231002X"
START = date(2025, 1, 1)
ADDRESS = "安徽省合肥市包河区紫云路1000号"
CERTIFICATE = "皖(2024)合肥市不动产权第0012345号"
INVOICE_NO = "25342000000012345678"


# -- shared fixtures ---------------------------------------------------------------------------


@pytest.fixture
def platform(tmp_path) -> FileTaxPlatform:
    return FileTaxPlatform(outbox=tmp_path / "outbox", inbox=tmp_path / "inbox")


@pytest.fixture(autouse=True)
def _platform_dirs(settings, tmp_path):
    settings.INVOICING_OUTBOX = tmp_path / "outbox"
    settings.INVOICING_INBOX = tmp_path / "inbox"


@pytest.fixture
def unit_a(tree):
    building = BuildingFactory(site__company=tree.sub_a, name="A座", address=ADDRESS)
    unit = UnitFactory(floor=FloorFactory(building=building), name="1201室", gross_area=D("120"))
    DocumentFactory(target=unit, number=CERTIFICATE)
    return unit


@pytest.fixture
def tenant_a(tree):
    return leasing_services.tenant_create(
        company=tree.sub_a, kind="company", name="合肥某科技有限公司", uscc=USCC
    )


def make_lease(tenant, unit, number="HT-2025-001"):
    lease = leasing_services.lease_create(
        today=START, number=number, tenant=tenant, use="office", start_date=START,
        end_date=date(2027, 12, 31), units=[{"unit": unit, "area": D("100")}],
        steps=[{"start_date": START, "price": D("60"), "basis": "sqm_month"}],
        payment_cycle=3, deposit_amount=D("18000"),
    )  # fmt: skip
    leasing_services.lease_submit(lease, today=START)
    leasing_services.lease_approve(lease, today=START)
    return leasing_services.lease_activate(lease, today=START)


@pytest.fixture
def lease_a(tenant_a, unit_a):
    return make_lease(tenant_a, unit_a)


def post_bill(lease, start=START, end=date(2025, 4, 1), rent="18000.00", fee="2400.00",
              kind="regular", unit=True):  # fmt: skip
    lines = [{"item": "rent", "amount": D(rent), "vat_rate": D("0.09")}]
    if fee:
        lines.append({"item": "property_fee", "amount": D(fee), "vat_rate": D("0.06")})
    if unit:
        for line in lines:
            line["unit"] = lease.lines.first().unit
    return bill_post(
        lease=lease, kind=kind, period_start=start, period_end=end, due_date=start, lines=lines
    )


@pytest.fixture
def bill_a(lease_a):
    return post_bill(lease_a)


def issue(platform, request, number=INVOICE_NO, day="2025-01-05"):
    """Submit, then drop the platform's result file into the inbox and import it."""
    services.invoice_requests_submit(requests=[request], platform=platform)
    platform.inbox.mkdir(parents=True, exist_ok=True)
    result = [{"发票流水号": request.number, "开票状态": "成功", "发票号码": number,
               "开票日期": f"{day} 10:31:22"}]  # fmt: skip
    (platform.inbox / f"result-{request.number}.json").write_text(
        json.dumps(result, ensure_ascii=False), encoding="utf-8"
    )
    return services.invoice_results_import(platform=platform)


# -- invoice requests --------------------------------------------------------------------------


def test_request_from_a_bill_has_the_items_codes_address_and_lease_period(bill_a):
    # when
    request = services.invoice_request_create(bills=[bill_a], invoice_type="special")
    # then the buyer is the tenant and the totals are the bill's
    assert (request.buyer_name, request.buyer_tax_id) == ("合肥某科技有限公司", USCC)
    assert (request.amount, request.net, request.tax) == (bill_a.amount, bill_a.net, bill_a.tax)
    assert request.status == "draft" and request.number.startswith("KP")
    rent, fee = request.items.order_by("id")
    assert (rent.name, rent.tax_code, rent.vat_rate) == (
        "*经营租赁*房屋租金", "3040502020200000000", D("0.0900"))  # fmt: skip
    assert (rent.amount, rent.net, rent.tax) == (D("18000.00"), D("16513.76"), D("1486.24"))
    # rent of immovable property carries the property and the period leased (inclusive)
    assert rent.property_address == f"{ADDRESS} A座 1201室"
    assert rent.property_certificate == CERTIFICATE
    assert (rent.lease_start, rent.lease_end) == (date(2025, 1, 1), date(2025, 3, 31))
    # the property fee is a service: no leasing details
    assert (fee.name, fee.tax_code, fee.vat_rate) == (
        "*物业管理服务*物业管理费", "3040802010000000000", D("0.0600"))  # fmt: skip
    assert fee.property_address == "" and fee.lease_start is None
    assert bill_a.number in request.remarks and "HT-2025-001" in request.remarks


def test_a_bill_line_cannot_be_invoiced_twice(bill_a, lease_a):
    # given a request for the bill
    first = services.invoice_request_create(bills=[bill_a], invoice_type="normal")
    other = post_bill(lease_a, start=date(2025, 4, 1), end=date(2025, 7, 1))
    # when the same bill is asked again, alone or with another
    for bills in ([bill_a], [other, bill_a]):
        with pytest.raises(ValidationError) as err:
            services.invoice_request_create(bills=bills, invoice_type="normal")
        # then it is refused naming the bill and the request holding it
        assert bill_a.number in err.value.message_dict["bills"][0]
        assert first.number in err.value.message_dict["bills"][0]
    assert InvoiceRequest.objects.count() == 1
    assert InvoiceRequestItem.objects.filter(holds=True).count() == 2


def test_the_database_refuses_a_second_live_item_for_a_line(bill_a):
    from django.db import IntegrityError, transaction

    request = services.invoice_request_create(bills=[bill_a], invoice_type="normal")
    item = request.items.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceRequestItem.objects.create(
            request=request, bill_line=item.bill_line, bill=bill_a, name="x",
            tax_code=item.tax_code, amount=item.amount, net=item.net, tax=item.tax,
            vat_rate=item.vat_rate,
        )  # fmt: skip


def test_bad_requests_name_the_field(bill_a, lease_a, tree, unit_a):
    # no bills, unknown type
    with pytest.raises(ValidationError) as err:
        services.invoice_request_create(bills=[], invoice_type="special")
    assert "bills" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.invoice_request_create(bills=[bill_a], invoice_type="paper")
    assert "invoice_type" in err.value.message_dict
    # bills of two tenants
    person = leasing_services.tenant_create(
        company=tree.sub_a, kind="individual", name="张三", id_number=RIC
    )
    unit_2 = UnitFactory(floor=unit_a.floor, gross_area=D("120"))
    other = post_bill(make_lease(person, unit_2, number="HT-2025-002"))
    with pytest.raises(ValidationError) as err:
        services.invoice_request_create(bills=[bill_a, other], invoice_type="normal")
    assert "bills" in err.value.message_dict
    # a special invoice for an individual without a taxpayer ID
    with pytest.raises(ValidationError) as err:
        services.invoice_request_create(bills=[other], invoice_type="special")
    assert "invoice_type" in err.value.message_dict
    # a credit bill
    credit = bill_post(
        lease=lease_a,
        kind="credit",
        period_start=START,
        period_end=START,
        due_date=START,
        reason="减免",
        corrects=bill_a,
        lines=[{"item": "rent", "amount": D("-100"), "vat_rate": D("0.09")}],
    )
    with pytest.raises(ValidationError) as err:
        services.invoice_request_create(bills=[credit], invoice_type="normal")
    assert credit.number in err.value.message_dict["bills"][0]
    assert InvoiceRequest.objects.count() == 0
    # an individual gets a normal invoice without their ID number printed
    request = services.invoice_request_create(bills=[other], invoice_type="normal")
    assert request.buyer_name == "张三" and request.buyer_tax_id == ""


def test_lines_without_a_unit_take_the_lease_units_address(lease_a):
    bill = post_bill(lease_a, unit=False, fee="")
    request = services.invoice_request_create(bills=[bill], invoice_type="normal")
    assert request.items.get().property_address == f"{ADDRESS} A座 1201室"


# -- the file tax platform ---------------------------------------------------------------------


def test_file_platform_round_trip_marks_the_request_issued(bill_a, platform):
    request = services.invoice_request_create(
        bills=[bill_a], invoice_type="special", buyer={"buyer_bank": "徽商银行合肥分行"}
    )
    # when submitted
    services.invoice_requests_submit(platform=platform)
    request.refresh_from_db()
    # then one batch file is in the outbox in the template's shape
    files = list(platform.outbox.glob("*.json"))
    assert len(files) == 1 and request.status == "submitted"
    assert request.outbox_file == files[0].name
    batch = json.loads(files[0].read_text(encoding="utf-8"))
    (invoice,) = batch["发票"]
    basic = invoice["发票基本信息"]
    assert basic["发票流水号"] == request.number
    assert basic["发票类型"] == "增值税专用发票"
    assert basic["特定业务类型"] == "不动产经营租赁服务"
    assert (basic["购买方纳税人识别号"], basic["购买方开户银行"]) == (USCC, "徽商银行合肥分行")
    assert basic["价税合计"] == "20400.00"
    assert [d["商品和服务税收分类编码"] for d in invoice["发票明细信息"]] == [
        "3040502020200000000", "3040802010000000000"]  # fmt: skip
    assert invoice["发票明细信息"][0]["税额"] == "1486.24"
    (special,) = invoice["特定业务信息"]
    assert special["不动产地址"] == f"{ADDRESS} A座 1201室"
    assert (special["租赁期起"], special["租赁期止"]) == ("2025-01-01", "2025-03-31")
    # and a second submit sends nothing again
    assert services.invoice_requests_submit(platform=platform) == []
    # when the platform's result arrives in the inbox
    platform.inbox.mkdir(parents=True)
    (platform.inbox / "r1.json").write_text(
        json.dumps([{"发票流水号": request.number, "开票状态": "成功", "发票号码": INVOICE_NO,
                     "开票日期": "2025-01-05 10:31:22"}], ensure_ascii=False),
        encoding="utf-8",
    )  # fmt: skip
    counts = services.invoice_results_import(platform=platform)
    # then the request is issued with its number and date, and the file is done
    request.refresh_from_db()
    assert counts["issued"] == 1 and counts["errors"] == {}
    assert (request.status, request.invoice_number, request.invoice_date) == (
        "issued", INVOICE_NO, date(2025, 1, 5))  # fmt: skip
    assert not (platform.inbox / "r1.json").exists()
    assert (platform.inbox / "done" / "r1.json").exists()


def test_a_failed_result_frees_the_bill_and_a_bad_file_is_kept(bill_a, platform):
    request = services.invoice_request_create(bills=[bill_a], invoice_type="normal")
    services.invoice_requests_submit(platform=platform)
    platform.inbox.mkdir(parents=True)
    (platform.inbox / "bad.json").write_text("{not json", encoding="utf-8")
    (platform.inbox / "wrong.json").write_text(
        json.dumps([{"发票流水号": request.number, "开票状态": "成功", "发票号码": "123",
                     "开票日期": "2025-01-05"}]), encoding="utf-8")  # fmt: skip
    (platform.inbox / "failed.json").write_text(
        json.dumps(
            [{"发票流水号": request.number, "开票状态": "失败", "失败原因": "购买方税号不存在"}],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    counts = services.invoice_results_import(platform=platform)
    request.refresh_from_db()
    # the good file applied, the others kept with their reasons
    assert counts["failed"] == 1 and counts["issued"] == 0
    assert set(counts["errors"]) == {"bad.json", "wrong.json"}
    assert "invoice_number" in counts["errors"]["wrong.json"][0]
    assert (platform.inbox / "bad.json").exists() and (platform.inbox / "wrong.json").exists()
    assert (request.status, request.failure_reason) == ("failed", "购买方税号不存在")
    # the bill may be invoiced again
    again = services.invoice_request_create(bills=[bill_a], invoice_type="normal")
    assert again.items.count() == 2


def test_invoices_sync_command_submits_and_imports(bill_a, platform, settings):
    request = services.invoice_request_create(bills=[bill_a], invoice_type="normal")
    call_command("invoices_sync")
    request.refresh_from_db()
    assert request.status == "submitted"
    assert len(list(platform.outbox.glob("*.json"))) == 1
    platform.inbox.mkdir(parents=True, exist_ok=True)
    (platform.inbox / "r.json").write_text(json.dumps({"results": [
        {"request_number": request.number, "status": "issued", "invoice_number": INVOICE_NO,
         "invoice_date": "20250105"}]}), encoding="utf-8")  # fmt: skip
    call_command("invoices_sync", "--no-submit")
    request.refresh_from_db()
    assert (request.status, request.invoice_date) == ("issued", date(2025, 1, 5))


def test_a_result_applied_twice_changes_nothing_and_a_number_is_used_once(
    bill_a, lease_a, platform
):
    request = services.invoice_request_create(bills=[bill_a], invoice_type="normal")
    issue(platform, request)
    request.refresh_from_db()
    services.invoice_result_apply(request, issued=True, invoice_number=INVOICE_NO,
                                  invoice_date=date(2025, 1, 5))  # fmt: skip
    with pytest.raises(ValidationError) as err:
        services.invoice_result_apply(request, issued=True, invoice_number="2" * 20,
                                      invoice_date=date(2025, 1, 5))  # fmt: skip
    assert "invoice_number" in err.value.message_dict
    other = services.invoice_request_create(
        bills=[post_bill(lease_a, start=date(2025, 4, 1), end=date(2025, 7, 1))],
        invoice_type="normal",
    )
    with pytest.raises(ValidationError) as err:
        services.invoice_result_apply(other, issued=True, invoice_number=INVOICE_NO,
                                      invoice_date=date(2025, 4, 5))  # fmt: skip
    assert "invoice_number" in err.value.message_dict
    assert InvoiceRequest.objects.get(pk=other.pk).status == "draft"


# -- red letter --------------------------------------------------------------------------------


def test_red_letter_reversal_then_the_bill_is_invoiced_again(bill_a, platform):
    # given an issued invoice
    blue = services.invoice_request_create(bills=[bill_a], invoice_type="special")
    issue(platform, blue)
    blue.refresh_from_db()
    # the bill cannot be invoiced while the invoice stands
    with pytest.raises(ValidationError):
        services.invoice_request_create(bills=[bill_a], invoice_type="special")
    # when reversed by red letter
    red = services.invoice_red_reverse(blue, reason="开票信息有误", confirmation_number="HZQR001")
    assert (red.kind, red.amount, red.tax, red.original_id) == ("red", -bill_a.amount,
                                                               -bill_a.tax, blue.pk)  # fmt: skip
    assert [i.amount for i in red.items.order_by("id")] == [D("-18000.00"), D("-2400.00")]
    # a second reversal is refused, and the bill is still held until the red one is issued
    with pytest.raises(ValidationError) as err:
        services.invoice_red_reverse(blue, reason="again")
    assert "status" in err.value.message_dict
    with pytest.raises(ValidationError):
        services.invoice_request_create(bills=[bill_a], invoice_type="special")
    # the red invoice in the batch names the original and the confirmation
    services.invoice_requests_submit(requests=[red], platform=platform)
    batch = json.loads(sorted(platform.outbox.glob("*.json"))[-1].read_text(encoding="utf-8"))
    basic = batch["发票"][0]["发票基本信息"]
    assert (basic["原发票号码"], basic["红字确认单编号"]) == (INVOICE_NO, "HZQR001")
    assert basic["价税合计"] == "-20400.00"
    services.invoice_result_apply(red, issued=True, invoice_number="25342000000087654321",
                                  invoice_date=date(2025, 1, 20))  # fmt: skip
    # then the original is reversed and the bill may be invoiced again
    blue.refresh_from_db()
    assert blue.status == "reversed"
    again = services.invoice_request_create(bills=[bill_a], invoice_type="special")
    assert again.amount == bill_a.amount
    # net of the three invoices, the bill is invoiced exactly once
    issued = InvoiceRequest.objects.filter(invoice_number__gt="")
    assert issued.aggregate(total=Sum("amount"))["total"] == 0
    assert InvoiceRequestItem.objects.filter(holds=True, bill=bill_a).aggregate(
        total=Sum("amount"))["total"] == bill_a.amount  # fmt: skip


def test_only_issued_invoices_are_reversed_and_drafts_are_cancelled(bill_a):
    draft = services.invoice_request_create(bills=[bill_a], invoice_type="normal")
    with pytest.raises(ValidationError) as err:
        services.invoice_red_reverse(draft, reason="x")
    assert "status" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.invoice_red_reverse(draft, reason="")
    assert "reason" in err.value.message_dict
    services.invoice_request_cancel(draft)
    assert InvoiceRequest.objects.get(pk=draft.pk).status == "cancelled"
    assert services.invoice_request_create(bills=[bill_a], invoice_type="normal").pk


# -- vouchers ----------------------------------------------------------------------------------


def _balanced(voucher: Voucher) -> bool:
    totals = voucher.entries.aggregate(d=Sum("debit"), c=Sum("credit"))
    return totals["d"] == totals["c"] == voucher.total


def test_bill_voucher_is_balanced_with_the_default_accounts(bill_a):
    voucher = services.voucher_for_bill(bill_a)
    rows = list(voucher.entries.values_list("account_code", "debit", "credit"))
    assert rows == [
        ("1122", D("20400.00"), D("0.00")),
        ("6001", D("0.00"), D("16513.76")),
        ("6051", D("0.00"), D("2264.15")),
        ("22210106", D("0.00"), D("1622.09")),
    ]
    assert _balanced(voucher) and voucher.date == START and voucher.source == "bill"
    receivable = voucher.entries.get(account_code="1122")
    assert (receivable.tenant_id, receivable.lease_id) == (bill_a.tenant_id, bill_a.lease_id)


def test_vouchers_are_idempotent(bill_a):
    first = services.voucher_for_bill(bill_a)
    assert services.voucher_for_bill(bill_a) == first
    made = services.vouchers_generate(start=START, end=date(2025, 2, 1))
    assert made == []  # already has one
    assert Voucher.objects.count() == 1 and VoucherEntry.objects.count() == 4


def test_company_account_codes_override_the_defaults(bill_a, tree):
    # a parent's override reaches the project company below it; the nearest wins
    services.account_code_save(company=tree.group, key="rent_income", code="6051.01",
                               name="其他业务收入-租金")  # fmt: skip
    services.account_code_save(company=tree.sub_a, key="rent_income", code="6001.02",
                               name="主营业务收入-房租")  # fmt: skip
    voucher = services.voucher_for_bill(bill_a)
    assert voucher.entries.filter(account_key="rent_income").get().account_code == "6001.02"
    with pytest.raises(ValidationError) as err:
        services.account_code_save(company=tree.sub_a, key="rent_income", code="6001.03",
                                   name="重复")  # fmt: skip
    assert err.value.message_dict  # the same role twice for one company
    with pytest.raises(ValidationError) as err:
        services.account_code_save(company=tree.sub_b, key="bank", code="10 02", name="银行")
    assert "code" in err.value.message_dict
    assert AccountCode.objects.filter(company=tree.sub_a).count() == 1


def test_late_fee_credit_and_receipt_vouchers_balance(bill_a, lease_a, tenant_a, tree):
    from finance.collection import services as collection

    late = bill_post(
        lease=lease_a,
        kind="late_fee",
        period_start=date(2025, 2, 1),
        period_end=date(2025, 3, 1),
        due_date=date(2025, 3, 10),
        lines=[{"item": "late_fee", "amount": D("102.00"), "vat_rate": D("0")}],
    )
    credit = bill_post(
        lease=lease_a,
        kind="credit",
        period_start=START,
        period_end=START,
        due_date=START,
        reason="免租调整",
        corrects=bill_a,
        lines=[{"item": "rent", "amount": D("-1090.00"), "vat_rate": D("0.09")}],
    )
    paid = collection.receipt_record(
        tenant=tenant_a, lease=lease_a, amount=D("20400.00"), method="bank",
        received_on=date(2025, 1, 10), today=date(2025, 1, 10), reference="BK001",
    )  # fmt: skip
    deposit = collection.receipt_record(
        tenant=tenant_a, lease=lease_a, amount=D("18000.00"), method="bank", kind="deposit",
        received_on=date(2025, 1, 2), today=date(2025, 1, 10), reference="BK000",
    )  # fmt: skip
    made = services.vouchers_generate(start=START, end=date(2025, 3, 1))
    assert len(made) == 5 and all(_balanced(v) for v in made)
    late_v = Voucher.objects.get(bill=late)
    assert late_v.source == "late_fee"
    assert list(late_v.entries.values_list("account_code", "credit")) == [
        ("1122", D("0")), ("6301", D("102.00"))]  # fmt: skip
    credit_v = Voucher.objects.get(bill=credit)
    assert credit_v.total == D("-1090.00")
    assert list(credit_v.entries.values_list("account_code", "debit", "credit")) == [
        ("1122", D("-1090.00"), D("0")), ("6001", D("0"), D("-1000.00")),
        ("22210106", D("0"), D("-90.00"))]  # fmt: skip
    assert list(Voucher.objects.get(receipt=paid).entries.values_list(
        "account_code", "debit", "credit")) == [("1002", D("20400.00"), D("0")),
                                                ("1122", D("0"), D("20400.00"))]  # fmt: skip
    assert Voucher.objects.get(receipt=deposit).entries.last().account_code == "2241"
    # a reversal books the original's accounts, negative
    reversal = collection.receipt_reverse(deposit, reason="退回", on=date(2025, 2, 3))
    rv = services.voucher_for_receipt(reversal)
    assert list(rv.entries.values_list("account_code", "debit", "credit")) == [
        ("1002", D("-18000.00"), D("0")), ("2241", D("0"), D("-18000.00"))]  # fmt: skip
    assert Receipt.objects.count() == 3


def test_export_vouchers_csv_and_json(bill_a, tmp_path):
    services.vouchers_generate(start=START, end=date(2025, 2, 1))
    # the command generates idempotently and writes the month's entries
    call_command("export_vouchers", "--period", "2025-01", "--generate",
                 "--output", str(tmp_path / "v.csv"))  # fmt: skip
    text = (tmp_path / "v.csv").read_text(encoding="utf-8")
    assert text.startswith(
        "\ufeff凭证号,日期,公司编码,分录号,摘要,科目编码,科目名称,借方金额,贷方金额"
    )
    rows = text.strip().splitlines()
    assert len(rows) == 5 and rows[1].split(",")[5] == "1122" and ",20400.00,0.00," in rows[1]
    call_command("export_vouchers", "--period", "2025-01", "--format", "json",
                 "--output", str(tmp_path / "v.json"))  # fmt: skip
    (voucher,) = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    assert voucher["source_number"] == bill_a.number and voucher["total"] == "20400.00"
    assert sum(D(e["debit"]) for e in voucher["entries"]) == sum(
        D(e["credit"]) for e in voucher["entries"])  # fmt: skip
    # another month has none, and a bad period is refused
    call_command("export_vouchers", "--period", "2025-02", "--output", str(tmp_path / "e.csv"))
    assert len((tmp_path / "e.csv").read_text(encoding="utf-8").strip().splitlines()) == 1
    from django.core.management import CommandError

    with pytest.raises(CommandError):
        call_command("export_vouchers", "--period", "2025-13")
    assert Voucher.objects.count() == 1


def test_a_zero_bill_gets_no_voucher(lease_a):
    bill = post_bill(lease_a, rent="0", fee="")
    assert services.voucher_for_bill(bill) is None
    assert Bill.objects.count() == 1 and Voucher.objects.count() == 0
