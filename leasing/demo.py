"""Demo tenants and leases for web.demo's seed: rows for COPY, deterministic.

Called by `web.demo.Builder` after the units are generated and before they are written:
every leased unit gets an active lease, every reserved unit an approved one starting
after AS_OF; about half the vacant units are let too (80–90 % occupancy by area); the
rest get a listing with a vacancy reason, some after an early termination or an expiry.
Every rent structure appears: per m² per day (365/12 and actual days), per m² per month,
fixed monthly, stepped, escalating, guarantee + turnover share, free periods, property fee,
parking and advertising charges. Expiries spread over five years; about one lease in ten
is a renewal of an expired one.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from stdnum.cn import ric, uscc

from leasing.rent import add_months
from leasing.services import VERSION_FIELDS
from spatial.choices import UnitStatus, UnitUse

DAY = timedelta(days=1)
INDUSTRIES = {
    UnitUse.OFFICE: ("软件和信息技术服务业", "商务服务业", "金融业", "科技推广和应用服务业"),
    UnitUse.RETAIL: ("零售业", "居民服务业", "文化艺术业"),
    UnitUse.CATERING: ("餐饮业",),
    UnitUse.INDUSTRIAL: ("汽车制造业", "计算机、通信和其他电子设备制造业", "医药制造业"),
    UnitUse.WAREHOUSE: ("仓储业", "道路运输业", "批发业"),
    UnitUse.PARKING: ("道路运输业",),
}
FIRMS = ("科技", "智能", "电子", "贸易", "物流", "餐饮管理", "商贸", "医药", "新材料", "咨询")
REASONS = ("never_leased", "renovation", "pricing", "poor_condition", "other")
# Columns of web.demo.Builder.unit rows: id, code, name, remarks, created, updated, company,
# floor, building, site, number, geom, use, status, gross_area, …
U_COMPANY, U_SITE, U_USE, U_STATUS, U_GROSS = 6, 9, 12, 13, 14


def _ric(n: int) -> str:
    """The n-th distinct ID card number (长丰县): a birthday and a sequence number drawn from n."""
    birth = date(1960, 1, 1) + timedelta(days=(n * 7919) % (365 * 40))
    body = f"340121{birth:%Y%m%d}{(n // (365 * 40)) % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _uscc(n: int) -> str:
    """The n-th distinct unified social credit code (Hefei, enterprise), checks included."""
    digits, k = [], n * 7919 + 104729
    for _ in range(6):
        k, r = divmod(k, 31)
        digits.append(_USCC_ALPHABET[r])
    body = "MA" + "".join(reversed(digits))
    total = sum(int(c, 36) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    check = 11 - total % 11
    number = "91340100" + body + {10: "X", 11: "0"}.get(check, str(check))
    return number + uscc.calc_check_digit(number)


class LeaseRows:
    """Adds leasing Tables to a web.demo.Builder and fills them from its unit rows."""

    def __init__(self, builder, table_cls, as_of: date, seed: int, make_uscc):
        self.b, self.as_of, self.make_uscc = builder, as_of, make_uscc
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        # Amendments draw from their own stream, so adding them left every other row alone.
        self.amend_rng = random.Random(seed + 1)  # noqa: S311 - demo data, not secrets
        now = builder.now
        self.now = now
        T = table_cls
        self.tenant = T(
            "leasing_tenant",
            (
                "company_id",
                "kind",
                "name",
                "uscc",
                "id_number",
                "contact_name",
                "phone",
                "email",
                "industry",
                "size",
                "credit_rating",
                "remarks",
                "created_at",
                "updated_at",
            ),
        )
        self.lease = T(
            "leasing_lease",
            (
                "company_id",
                "number",
                "tenant_id",
                "use",
                "status",
                "signed_on",
                "start_date",
                "end_date",
                "deposit_amount",
                "deposit_received",
                "deposit_received_on",
                "renewal_of_id",
                "approved_at",
                "move_out_date",
                "termination_kind",
                "closed_through",
                "remarks",
                "created_at",
                "updated_at",
            ),
            {"tenant_id": self.tenant},
        )
        self.lease.fk_positions.append((self.lease.columns.index("renewal_of_id"), self.lease))
        self.version = T(
            "leasing_leaseversion",
            (
                "lease_id",
                "number",
                "effective_from",
                "start_date",
                "end_date",
                *VERSION_FIELDS,
                "reason",
                "created_at",
            ),
            {"lease_id": self.lease},
        )
        self.step = T(
            "leasing_rentstep",
            ("version_id", "start_date", "price", "basis"),
            {"version_id": self.version},
        )
        self.free = T(
            "leasing_freeperiod",
            ("version_id", "start_date", "end_date", "covers_charges"),
            {"version_id": self.version},
        )
        self.charge = T(
            "leasing_leasecharge",
            ("version_id", "item", "name", "price", "basis", "quantity", "vat_rate"),
            {"version_id": self.version},
        )
        self.line = T(
            "leasing_leaseunit",
            (
                "version_id",
                "lease_id",
                "unit_id",
                "area",
                "rent_per_sqm_month",
                "period",
                "blocking",
                "current",
            ),
            {"version_id": self.version, "lease_id": self.lease, "unit_id": builder.unit},
        )
        self.listing = T(
            "leasing_unitlisting",
            ("unit_id", "asking_rent", "vacant_since", "vacancy_reason", "note", "updated_at"),
            {"unit_id": builder.unit},
        )
        self.tables = (self.tenant, self.lease, self.version, self.step, self.free, self.charge,
                       self.line, self.listing)  # fmt: skip
        self.serial = 0

    # -- prices --------------------------------------------------------------------------------

    def base_rent(self, use: str) -> float:
        """元/m²/month, roughly Hefei's market in 2026."""
        lo, hi = {
            UnitUse.OFFICE: (45, 110), UnitUse.RETAIL: (90, 260), UnitUse.CATERING: (80, 200),
            UnitUse.APARTMENT: (28, 48), UnitUse.INDUSTRIAL: (18, 32),
            UnitUse.WAREHOUSE: (22, 38), UnitUse.PARKING: (8, 15),
        }.get(use, (30, 60))  # fmt: skip
        return self.rng.uniform(lo, hi)

    # -- rows ----------------------------------------------------------------------------------

    def add_tenant(self, company_id: int, use: str) -> int:
        rng = self.rng
        person = use == UnitUse.APARTMENT
        name = self.b.person()
        phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
        if person:
            ric_number = _ric(len(self.tenant.rows))
            return self.tenant.add(company_id, "individual", name, "", ric_number, name, phone,
                                   "", "", "micro", rng.choices("ABCD", (70, 18, 9, 3))[0], "",
                                   self.now, self.now)  # fmt: skip
        firm = f"合肥{rng.choice(self.b.people)[:2]}{rng.choice(FIRMS)}有限公司"
        return self.tenant.add(
            company_id, "company", firm, _uscc(len(self.tenant.rows)), "", name, phone, "",
            rng.choice(INDUSTRIES.get(use, ("商务服务业",))),
            rng.choices(("micro", "small", "medium", "large"), (15, 45, 30, 10))[0],
            rng.choices("ABCD", (65, 20, 10, 5))[0], "", self.now, self.now,
        )  # fmt: skip

    def add_lease(self, unit_row: int, unit, *, start: date, end: date, status: str,
                  renewal_of=None, move_out=None, kind="") -> int:  # fmt: skip
        rng = self.rng
        company, use = unit[U_COMPANY], unit[U_USE]
        area = Decimal(unit[U_GROSS])
        tenant = self.add_tenant(company, use)
        self.serial += 1
        monthly = self.base_rent(use)
        deposit = round(monthly * float(area) * rng.choice((2, 3)), 2)
        signed = start - timedelta(days=rng.randint(10, 60))
        closed = move_out or (min(end, self.as_of) if status != "approved" else None)
        lease = self.lease.add(
            company, f"LZ-ZL-{start.year}-{self.serial:06d}", tenant, use, status, signed,
            start, end, f"{deposit:.2f}", f"{deposit:.2f}", signed, renewal_of, self.now,
            move_out, kind, closed, "", self.now, self.now,
        )  # fmt: skip
        # the rent structure, by use and by draw
        cycle, basis_month, esc, esc_every, turnover = 3, "365_12", 0, None, None
        steps: list[tuple[date, float, str]] = []
        draw = rng.random()
        if use == UnitUse.APARTMENT:
            cycle = 1
            if draw < 0.5:
                steps = [(start, round(monthly * float(area) / 10) * 10, "month_fixed")]
            else:
                steps = [(start, round(monthly, 1), "sqm_month")]
        elif use in (UnitUse.RETAIL, UnitUse.CATERING):
            turnover = rng.choice((0.06, 0.08, 0.10, 0.12)) if draw < 0.6 else None
            cycle = 1 if turnover else 3
            steps = [(start, round(monthly, 1), "sqm_month")]
            if draw > 0.3:  # stepped: +8 % a year
                year = 1
                while (d := add_months(start, 12 * year)) <= end:
                    steps.append((d, round(monthly * 1.08**year, 1), "sqm_month"))
                    year += 1
        elif use in (UnitUse.INDUSTRIAL, UnitUse.WAREHOUSE):
            cycle = rng.choice((6, 12))
            steps = [(start, round(monthly, 1), "sqm_month")]
            esc, esc_every = (0.03, 12) if draw < 0.5 else (0, None)
        elif use == UnitUse.PARKING:
            cycle = 12
            steps = [(start, round(monthly * float(area) / 100) * 100 or 300, "month_fixed")]
        else:  # offices: a daily price, half by 365/12, half by actual days
            basis_month = "365_12" if draw < 0.5 else "actual"
            steps = [(start, round(monthly * 12 / 365, 2), "sqm_day")]
            esc, esc_every = (0.05, 24) if rng.random() < 0.4 else (0, None)
        terms = (
            cycle,
            15,
            0,
            basis_month,
            True,
            "0.0900",
            f"{esc:.4f}",
            esc_every,
            f"{turnover:.4f}" if turnover else None,
            "2.00",
            "3.00",
            rng.random() < 0.3,
        )
        version = self.version.add(lease, 1, start, start, end, *terms, "签约", self.now)
        for d, price, basis in steps:
            self.step.add(version, d, f"{price:.4f}", basis)
        if use not in (UnitUse.APARTMENT, UnitUse.PARKING) and rng.random() < 0.35:
            months = rng.choice((1, 2, 3))
            self.free.add(version, start, add_months(start, months) - DAY, rng.random() < 0.2)
        charges = []
        if use not in (UnitUse.APARTMENT, UnitUse.PARKING):
            charges.append(("property_fee", "物业费", f"{rng.uniform(4, 12):.2f}",
                            "sqm_month", "1", "0.0600"))  # fmt: skip
            if use == UnitUse.OFFICE and rng.random() < 0.25:
                charges.append(("parking", "固定车位", "400.00", "month_fixed",
                                str(rng.randint(1, 4)), "0.0900"))  # fmt: skip
            if use in (UnitUse.RETAIL, UnitUse.CATERING) and rng.random() < 0.3:
                charges.append(("advertising", "广告位", f"{rng.randint(10, 40) * 100}",
                                "month_fixed", "1", "0.0600"))  # fmt: skip
        for charge in charges:
            self.charge.add(version, *charge)
        last = (move_out or end) + DAY
        amended = self.amendment(start, end, use, status) if status == "active" else None
        held = f"[{start.isoformat()},{(amended or last).isoformat()})"
        self.line.add(version, lease, unit_row, f"{area:.2f}", self.headline(steps[0], area),
                      held, True, amended is None)  # fmt: skip
        if amended:
            # 变更: the rent from `amended` on, as a second version (the first stays readable)
            factor = self.amend_rng.choice((0.9, 0.95, 1.05, 1.1))
            later = [s for s in steps if s[0] > amended]
            now = [s for s in steps if s[0] <= amended][-1]
            new = [(amended, round(now[1] * factor, 2), now[2])]
            new += [(d, round(p * factor, 2), b) for d, p, b in later]
            reason = "变更：租金下调（经营困难）" if factor < 1 else "变更：租金上调（装修改造）"
            v2 = self.version.add(lease, 2, amended, start, end, *terms, reason, self.now)
            for d, price, basis in new:
                self.step.add(v2, d, f"{price:.4f}", basis)
            for charge in charges:
                self.charge.add(v2, *charge)
            self.line.add(v2, lease, unit_row, f"{area:.2f}", self.headline(new[0], area),
                          f"[{amended.isoformat()},{last.isoformat()})", True, True)  # fmt: skip
        return lease

    @staticmethod
    def headline(step: tuple[date, float, str], area: Decimal) -> str:
        """元/m²/month of a rent step, as the lease line stores it for the map."""
        _day, price, basis = step
        per = {"sqm_day": price * 365 / 12, "sqm_month": price}.get(basis, price / float(area))
        return f"{per:.4f}"

    def amendment(self, start: date, end: date, use: str, status: str) -> date | None:
        """The effective date of a rent amendment for about one active lease in twelve.

        Offices and shops signed at least a year ago, amended on a month anniversary at
        least six months in and not after the demo's day.
        """
        if use not in (UnitUse.OFFICE, UnitUse.RETAIL, UnitUse.CATERING):
            return None
        if self.amend_rng.random() >= 0.08:
            return None
        months = [m for m in range(6, 120) if add_months(start, m) <= min(self.as_of, end)]
        if len(months) < 6:
            return None
        return add_months(start, self.amend_rng.choice(months))

    def build(self) -> None:
        """Leases for the builder's unit rows (statuses adjusted in place)."""
        rng, as_of = self.rng, self.as_of
        for index, unit in enumerate(self.b.unit.rows):
            status, use = unit[U_STATUS], unit[U_USE]
            if use == UnitUse.PUBLIC or status in (UnitStatus.SELF_USED, UnitStatus.UNAVAILABLE):
                continue
            if status == UnitStatus.VACANT and rng.random() < 0.5:
                status = unit[U_STATUS] = UnitStatus.LEASED
            if status == UnitStatus.LEASED:
                end = as_of + timedelta(days=rng.randint(1, 5 * 365))
                years = rng.choice((1, 2, 3, 3, 5))
                while (start := add_months(end + DAY, -12 * years)) > as_of:
                    years += 1
                previous = None
                if start > date(2022, 1, 1) and rng.random() < 0.12:  # a renewal
                    first = add_months(start, -12 * rng.choice((2, 3)))
                    previous = self.add_lease(index, unit, start=first, end=start - DAY,
                                              status="expired", kind="expiry")  # fmt: skip
                self.add_lease(index, unit, start=start, end=end, status="active",
                               renewal_of=previous)  # fmt: skip
            elif status == UnitStatus.RESERVED:
                start = as_of + timedelta(days=rng.randint(5, 90))
                end = add_months(start, 12 * rng.choice((2, 3))) - DAY
                self.add_lease(index, unit, start=start, end=end, status="approved")
            else:  # vacant
                draw = rng.random()
                asking = f"{self.base_rent(use):.2f}"
                if draw < 0.3:  # an early termination or breach
                    move_out = as_of - timedelta(days=rng.randint(10, 400))
                    start = add_months(move_out, -rng.randint(8, 30))
                    end = add_months(start, 36) - DAY
                    kind = "early" if rng.random() < 0.7 else "breach"
                    self.add_lease(index, unit, start=start, end=end, status="terminated",
                                   move_out=move_out, kind=kind)  # fmt: skip
                    reason = "early_termination" if kind == "early" else "breach"
                    self.listing.add(index, asking, move_out + DAY, reason, "", self.now)
                elif draw < 0.55:  # expired and not renewed
                    end = as_of - timedelta(days=rng.randint(10, 500))
                    start = add_months(end + DAY, -24)
                    self.add_lease(index, unit, start=start, end=end, status="expired",
                                   kind="expiry")  # fmt: skip
                    self.listing.add(index, asking, end + DAY, "lease_expired", "", self.now)
                else:
                    since = as_of - timedelta(days=rng.randint(30, 900))
                    self.listing.add(index, asking, since, rng.choice(REASONS), "", self.now)
