"""Loads the asset classes of GB/T 14885 from portfolio/data/gbt14885.csv."""

import csv
from decimal import Decimal
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "gbt14885.csv"
STANDARD = "GB/T 14885-2010"


def load(apps, schema_editor):
    Category = apps.get_model("portfolio", "Category")
    by_code = {}
    with DATA.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            parent = by_code.get(row["parent"]) if row["parent"] else None
            category, _ = Category.objects.update_or_create(
                code=row["code"],
                defaults={
                    "name": row["name"],
                    "parent": parent,
                    "level": parent.level + 1 if parent else 1,
                    "standard": STANDARD,
                    "useful_life_months": int(row["useful_life_months"])
                    if row["useful_life_months"]
                    else None,
                    "residual_rate": Decimal(row["residual_rate"] or "0"),
                },
            )
            by_code[category.code] = category


class Migration(migrations.Migration):
    dependencies = [("portfolio", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
