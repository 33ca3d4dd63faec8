"""Number sequences for invoice requests and vouchers; the default account codes.

The defaults follow the 企业会计准则 chart of accounts most ERPs (用友, 金蝶) ship with;
a company (or its parent) overrides any of them with its own row. docs/invoicing.md
lists them.
"""

from django.db import migrations

DEFAULT_ACCOUNTS = (
    ("receivable", "1122", "应收账款"),
    ("bank", "1002", "银行存款"),
    ("output_vat", "22210106", "应交税费-应交增值税(销项税额)"),
    ("rent_income", "6001", "主营业务收入-租金收入"),
    ("property_income", "6051", "其他业务收入-物业服务收入"),
    ("other_income", "6051", "其他业务收入"),
    ("late_fee_income", "6301", "营业外收入-滞纳金"),
    ("deposit", "2241", "其他应付款-押金"),
)


def seed(apps, schema_editor):
    account = apps.get_model("invoicing", "AccountCode")
    for key, code, name in DEFAULT_ACCOUNTS:
        account.objects.update_or_create(
            company=None, key=key, defaults={"code": code, "name": name}
        )


def unseed(apps, schema_editor):
    apps.get_model("invoicing", "AccountCode").objects.filter(company=None).delete()


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS invoicing_request_number_seq;"
            "CREATE SEQUENCE IF NOT EXISTS invoicing_voucher_number_seq;",
            "DROP SEQUENCE IF EXISTS invoicing_request_number_seq;"
            "DROP SEQUENCE IF EXISTS invoicing_voucher_number_seq;",
        ),
        migrations.RunPython(seed, unseed),
    ]
