"""Settings of the invoicing app, with their defaults.

All are optional Django settings, so a deployment configures them in its settings
(or environment) without this app's code changing:

- `INVOICING_TAX_PLATFORM`: dotted path of the `TaxPlatform` class
  (default `finance.invoicing.adapters.FileTaxPlatform`).
- `INVOICING_OUTBOX`, `INVOICING_INBOX`: folders of the file platform
  (default `var/invoicing/outbox` and `var/invoicing/inbox`).
- `INVOICING_AUTOMATCH_THRESHOLD`: a bank line whose best match scores at least this
  (0–100) is confirmed without a person (default 80).
- `INVOICING_ITEMS`: overrides of `ITEMS` below, by charge item.
"""

from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

#: Charge item → (tax classification abbreviation 简称, item name, tax classification code).
#: The printed item name is "*简称*名称" as the 数电 platform shows it. A bill line's own
#: `tax_code` wins, then the charge item's (finance.ChargeItemConfig), then the code here.
ITEMS: dict[str, tuple[str, str, str]] = {
    "rent": ("经营租赁", "房屋租金", "3040502020200000000"),
    "property_fee": ("物业管理服务", "物业管理费", "3040802010000000000"),
    "parking": ("经营租赁", "车位停放费", "3040502029902000000"),
    "advertising": ("经营租赁", "广告位使用费", "3040502020200000000"),
    "turnover": ("经营租赁", "营业额提成租金", "3040502020200000000"),
    "late_fee": ("经营租赁", "滞纳金", "3040502020200000000"),
    "water": ("水冰雪", "水费", "1100301010000000000"),
    "electricity": ("供电", "电费", "1100101020000000000"),
    "gas": ("燃气", "燃气费", "1100201010000000000"),
    "cooling": ("冷气", "空调冷量费", "1100304000000000000"),
    "other": ("现代服务", "其他费用", "3049900000000000000"),
}
#: Tax codes under 不动产经营租赁服务: their items carry the property address and lease period.
LEASING_TAX_CODE_PREFIX = "304050202"


def item_spec(item: str) -> tuple[str, str, str]:
    overrides = getattr(settings, "INVOICING_ITEMS", {}) or {}
    return overrides.get(item) or ITEMS.get(item) or ITEMS["other"]


def outbox() -> Path:
    return Path(getattr(settings, "INVOICING_OUTBOX", settings.VAR_DIR / "invoicing" / "outbox"))


def inbox() -> Path:
    return Path(getattr(settings, "INVOICING_INBOX", settings.VAR_DIR / "invoicing" / "inbox"))


def automatch_threshold() -> int:
    return int(getattr(settings, "INVOICING_AUTOMATCH_THRESHOLD", 80))


def tax_platform():
    """The configured tax platform adapter, ready to use."""
    path = getattr(settings, "INVOICING_TAX_PLATFORM", "finance.invoicing.adapters.FileTaxPlatform")
    return import_string(path)()
