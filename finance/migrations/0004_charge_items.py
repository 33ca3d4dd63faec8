"""Seed the charge items with the VAT rates and tax classification codes in force in 2026.

Rates: 财税〔2016〕36号 and 财政部 税务总局 海关总署公告2019年第39号 (16→13 %, 10→9 %);
codes: 商品和服务税收分类编码表 (the 19-digit codes). docs/billing.md lists them and why.
"""

from decimal import Decimal

from django.db import migrations

ITEMS = (
    # code, name, rate, tax code, tax classification name
    ("rent", "租金", "0.09", "3040502020200000000", "不动产经营租赁服务"),
    ("property_fee", "物业费", "0.06", "3040802010000000000", "物业管理服务"),
    ("parking", "停车费", "0.09", "3040502029902000000", "车辆停放服务"),
    ("advertising", "广告位使用费", "0.09", "3040502020200000000", "不动产经营租赁服务"),
    ("other", "其他费用", "0.06", "3049900000000000000", "其他现代服务"),
    ("water", "水费", "0.09", "1100301010000000000", "自来水"),
    ("electricity", "电费", "0.13", "1100101020000000000", "电力"),
    ("gas", "燃气费", "0.09", "1100201010000000000", "天然气"),
    ("cooling", "空调冷量费", "0.09", "1100304000000000000", "冷气"),
    ("turnover", "营业额提成租金", "0.09", "3040502020200000000", "不动产经营租赁服务"),
    ("late_fee", "滞纳金", "0.09", "3040502020200000000", "不动产经营租赁服务（价外费用）"),
)


def seed(apps, schema_editor):
    config = apps.get_model("finance", "ChargeItemConfig")
    for code, name, rate, tax_code, tax_name in ITEMS:
        config.objects.update_or_create(
            code=code,
            defaults={"name": name, "vat_rate": Decimal(rate), "tax_code": tax_code,
                      "tax_name": tax_name, "prices_include_tax": True},
        )  # fmt: skip


def unseed(apps, schema_editor):
    apps.get_model("finance", "ChargeItemConfig").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("finance", "0003_billing_engine")]

    operations = [migrations.RunPython(seed, unseed)]
