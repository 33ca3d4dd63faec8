# ruff: noqa: F811 - the fixtures shared from tests/test_invoicing.py are imported by name
"""Bank statements from CSV and XLSX, automatic matching with a confidence, re-import
without duplicates, manual matching; money is never counted twice."""

import io
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from openpyxl import Workbook

from finance.collection import services as collection
from finance.collection.models import Allocation, Receipt
from finance.invoicing import services
from finance.invoicing.models import BankLine, BankStatement
from finance.invoicing.services.bank import name_similarity
from tests.test_invoicing import (  # noqa: F401 - fixtures
    _platform_dirs,
    bill_a,
    lease_a,
    post_bill,
    tenant_a,
    unit_a,
)

Q2 = (date(2025, 4, 1), date(2025, 7, 1))


def gbk_csv(rows: list[list[str]]) -> bytes:
    """A statement as a Chinese bank exports it: GBK, account details above the header."""
    head = [["账号", "34001234567890"], ["户名", "合肥滨湖置业有限公司"], []]
    out = io.StringIO()
    import csv

    csv.writer(out).writerows(head + rows)
    return out.getvalue().encode("gb18030")


HEADER = ["交易日期", "交易流水号", "借方金额", "贷方金额", "对方户名", "对方账号", "摘要"]


def statement_rows(bill, other):
    return [
        HEADER,
        ["2025-01-08", "SN0001", "", "20,400.00", "合肥某科技有限公司", "6222 0000 1111",
         f"付{bill.number}房租"],
        ["2025-01-09", "SN0002", "", str(other.amount), "合肥某科技有限公司", "62220000",
         "4月租金"],
        ["2025/01/10", "SN0003", "", "500.00", "某某银行", "", "结息"],
        ["2025-01-10", "SN0004", "1,000.00", "", "合肥电力公司", "", "电费"],
        ["合计", "", "1000.00", "", "", "", ""],
    ]  # fmt: skip


def import_csv(company, content, **kw):
    return services.bank_statement_import(
        company=company, content=content, file_name="对账单.csv", **kw
    )


def test_csv_import_matches_by_reference_amount_and_name(tree, bill_a, lease_a):
    other = post_bill(lease_a, *Q2)
    # when the statement is imported
    statement = import_csv(tree.sub_a, gbk_csv(statement_rows(bill_a, other)))
    # then the three credits are read (the debit and the totals row are not)
    assert (statement.lines_read, statement.lines_added, statement.lines_duplicate) == (3, 3, 0)
    first, second, third = BankLine.objects.order_by("booked_on", "id")
    # the bill number, the amount and the name: confirmed, a receipt recorded and allocated
    assert (first.status, first.confidence, first.auto_matched) == ("matched", 100, True)
    assert len(first.reasons) == 3 and bill_a.number in first.reasons[0]
    receipt = first.receipt
    assert (receipt.amount, receipt.method, receipt.reference) == (D("20400.00"), "bank", "SN0001")
    assert (receipt.tenant_id, receipt.received_on) == (bill_a.tenant_id, date(2025, 1, 8))
    assert list(receipt.allocations.values_list("bill_id", "amount")) == [
        (bill_a.pk, bill_a.amount)
    ]
    assert first.payer_account == "622200001111"
    # the amount and the name without a reference: suggested for a person
    assert (second.status, second.confidence, second.suggested_bill_id) == (
        "suggested", 50, other.pk)  # fmt: skip
    assert second.receipt is None
    # interest: nothing alike
    assert (third.status, third.confidence, third.booked_on) == ("unmatched", 0, date(2025, 1, 10))
    assert Receipt.objects.count() == 1


def test_reimporting_a_statement_adds_no_lines_and_no_money(tree, bill_a, lease_a):
    other = post_bill(lease_a, *Q2)
    content = gbk_csv(statement_rows(bill_a, other))
    import_csv(tree.sub_a, content)
    # when the same export is imported again
    again = import_csv(tree.sub_a, content)
    # then nothing is added and no receipt recorded twice
    assert (again.lines_read, again.lines_added, again.lines_duplicate) == (3, 0, 3)
    assert BankLine.objects.count() == 3 and Receipt.objects.count() == 1
    assert BankStatement.objects.count() == 2


def test_equal_payments_without_serial_stay_two_lines(tree, bill_a):
    rows = [
        ["交易日期", "贷方金额", "对方户名", "摘要"],
        ["2025-01-08", "100.00", "张三", "停车费"],
        ["2025-01-08", "100.00", "张三", "停车费"],
    ]
    assert import_csv(tree.sub_a, gbk_csv(rows), automatch=False).lines_added == 2
    assert import_csv(tree.sub_a, gbk_csv(rows), automatch=False).lines_added == 0
    assert BankLine.objects.count() == 2


def xlsx(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["中国建设银行 账户明细"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_import_links_a_line_to_the_receipt_already_recorded(tree, bill_a, tenant_a, lease_a):
    # given a payment recorded by hand, with its bank reference
    receipt = collection.receipt_record(
        tenant=tenant_a, lease=lease_a, amount=D("20400.00"), method="bank",
        received_on=date(2025, 1, 8), today=date(2025, 1, 8), reference="HX20250108001",
        payer_name="合肥某科技有限公司",
    )  # fmt: skip
    allocated = Allocation.objects.aggregate(total=Sum("amount"))["total"]
    content = xlsx([
        ["记账日期", "收入金额", "支出金额", "对方账户名称", "用途", "流水号"],
        [date(2025, 1, 8), 20400, None, "合肥某科技有限公司", "HX20250108001 房租", "CCB778"],
    ])  # fmt: skip
    # when the bank's XLSX is imported
    statement = services.bank_statement_import(
        company=tree.sub_a, content=content, file_name="ccb.xlsx"
    )
    # then the line is linked to that receipt: no new receipt, no new allocation
    line = statement.lines.get()
    assert (line.status, line.confidence, line.receipt_id) == ("matched", 100, receipt.pk)
    assert Receipt.objects.count() == 1
    assert Allocation.objects.aggregate(total=Sum("amount"))["total"] == allocated


def test_manual_match_records_the_receipt_once(tree, bill_a, lease_a, finance_a):
    other = post_bill(lease_a, *Q2)
    import_csv(tree.sub_a, gbk_csv(statement_rows(bill_a, other)))
    line = BankLine.objects.get(status="suggested")
    # when a person confirms the suggestion
    services.bank_line_match(line, bill=other, user=finance_a)
    line.refresh_from_db()
    assert (line.status, line.auto_matched, line.matched_by) == ("matched", False, finance_a)
    assert line.receipt.allocations.get().bill_id == other.pk
    # then matching it again, or to something else, is refused
    with pytest.raises(ValidationError) as err:
        services.bank_line_match(line, bill=other)
    assert "status" in err.value.message_dict
    # a paid bill takes no more money
    interest = BankLine.objects.get(status="unmatched")
    with pytest.raises(ValidationError) as err:
        services.bank_line_match(interest, bill=bill_a)
    assert "bill" in err.value.message_dict
    # a receipt of another amount, or one already backing a line, is refused
    with pytest.raises(ValidationError) as err:
        services.bank_line_match(interest, receipt=line.receipt)
    assert "receipt" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.bank_line_match(interest)
    assert "bill" in err.value.message_dict
    assert Receipt.objects.count() == 2
    # interest is set aside
    services.bank_line_ignore(interest, reason="利息收入")
    assert BankLine.objects.get(pk=interest.pk).status == "ignored"
    with pytest.raises(ValidationError):
        services.bank_line_ignore(line)


def test_a_line_for_a_bill_of_another_company_is_refused(tree, bill_a):
    rows = [["交易日期", "贷方金额", "对方户名", "摘要", "流水号"],
            ["2025-01-08", "20400.00", "合肥某科技有限公司", bill_a.number, "X1"]]  # fmt: skip
    statement = import_csv(tree.sub_b, gbk_csv(rows))
    line = statement.lines.get()
    assert line.status == "unmatched"  # sub_b's lines are never scored against sub_a's bills
    with pytest.raises(ValidationError) as err:
        services.bank_line_match(line, bill=bill_a)
    assert "bill" in err.value.message_dict
    assert Receipt.objects.count() == 0


def test_overpayment_leaves_the_rest_on_the_receipt(tree, bill_a):
    rows = [["交易日期", "贷方金额", "对方户名", "摘要", "流水号"],
            ["2025-01-08", "21000.00", "合肥某科技有限公司", f"{bill_a.number}", "X2"]]  # fmt: skip
    line = import_csv(tree.sub_a, gbk_csv(rows), automatch=False).lines.get()
    services.bank_line_match(line, bill=bill_a)
    receipt = BankLine.objects.get(pk=line.pk).receipt
    assert receipt.amount == D("21000.00")
    assert receipt.allocations.aggregate(total=Sum("amount"))["total"] == bill_a.amount


def test_bad_files_are_refused_whole_naming_the_row(tree):
    rows = [["交易日期", "贷方金额", "对方户名"], ["2025-01-08", "100.00", "张三"],
            ["2025-13-45", "100.00", "李四"], ["2025-01-09", "一百", "王五"]]  # fmt: skip
    with pytest.raises(ValidationError) as err:
        import_csv(tree.sub_a, gbk_csv(rows))
    messages = err.value.message_dict["file"]
    assert "6" in messages[0] and "2025-13-45" in messages[0]  # the row as the file counts it
    assert "7" in messages[1]
    with pytest.raises(ValidationError) as err:
        import_csv(tree.sub_a, gbk_csv([["日期", "说明"], ["2025-01-08", "x"]]))
    assert "file" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.bank_statement_import(company=tree.sub_a, content=b"x", file_name="a.pdf")
    assert "file" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.bank_statement_import(company=tree.sub_a, content=b"PK\x03\x04junk",
                                       file_name="a.xlsx")  # fmt: skip
    assert "file" in err.value.message_dict
    assert BankStatement.objects.count() == 0 and BankLine.objects.count() == 0


def test_column_mapping_for_an_unusual_export(tree):
    rows = [["入账日", "到账金额", "汇款人"], ["20250108", "88.00", "张三"]]
    statement = import_csv(
        tree.sub_a, gbk_csv(rows),
        mapping={"booked_on": "入账日", "credit": "到账金额", "payer_name": "汇款人"},
    )  # fmt: skip
    line = statement.lines.get()
    assert (line.booked_on, line.amount, line.payer_name) == (date(2025, 1, 8), D("88.00"), "张三")
    with pytest.raises(ValidationError) as err:
        import_csv(tree.sub_a, gbk_csv(rows), mapping={"colour": "x"})
    assert "mapping" in err.value.message_dict


def test_name_similarity_ignores_company_suffixes():
    assert name_similarity("合肥某科技有限公司", "合肥某科技") == 1.0
    assert name_similarity("合肥某科技(集团)有限公司", "合肥某科技有限公司") > 0.8
    assert name_similarity("张三", "合肥某科技有限公司") < 0.6
    assert name_similarity("", "x") == 0.0
