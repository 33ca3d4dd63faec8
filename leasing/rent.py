"""The rent engine: what a lease charges for a period, and when it bills.

Everything here is a pure function of `Terms` (one contract version's terms, as plain
frozen dataclasses) and dates, so billing can call it for any period and tests can
compute amounts by hand. `terms_for_lease()` is the one function that reads the database.

    terms = terms_for_lease(lease)            # one Terms per version, in order
    for period in schedule(terms, until=...):     # periods by payment cycle
        lines = lease_charges(terms, period.start, period.end, turnover=...)

Rules (docs/leasing.md has worked examples):

- Periods are half-open `[start, end)`. A term's `end` is the day after its last day.
- Contract months are anchored at the lease's start day: a lease from 31 Jan has months
  31 Jan–28 Feb (exclusive of 28 Feb? no: [31 Jan, 28 Feb)), [28 Feb, 31 Mar), [31 Mar,
  30 Apr) … — each month starts on the start day, or the month's last day when it is
  shorter (the start day itself is always kept, months do not drift).
- A month's amount: per m² per month × area; a fixed monthly amount × quantity; per m² per
  day × area × 365/12, or × the contract month's actual days, as the contract says.
- Part of a contract month is charged by days: month amount × days / days in that month.
  (With actual days, that is simply daily price × area × days.)
- Stepped prices change on their `start` date; escalation multiplies rent (not other
  charges) by (1 + rate)^n after the n-th anniversary of every `escalation_every_months`
  from the lease start, compounding.
- A free-rent period charges no rent; other charges too only when `covers_charges`.
- Minimum guarantee + turnover share: rent for a period is the higher of the guaranteed
  rent and turnover × rate (the share prorated to the period's days outside free periods).
- Every line is rounded once, to fen, ROUND_HALF_UP. Prices include VAT unless the contract
  says otherwise; VAT is split per line: tax = amount × r / (1 + r) rounded, net = amount − tax
  (exclusive prices: tax = net × r rounded, amount = net + tax).
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from leasing.choices import ChargeItem, MonthlyBasis, PriceBasis

CENT = Decimal("0.01")
ZERO = Decimal("0")
ONE = Decimal("1")
DAY = timedelta(days=1)


def money(value: Decimal) -> Decimal:
    """The one rounding rule: yuan to two places, half up."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# -- terms -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    start: date
    price: Decimal
    basis: str  # PriceBasis


@dataclass(frozen=True)
class Free:
    start: date
    end: date  # exclusive
    covers_charges: bool = False


@dataclass(frozen=True)
class Charge:
    item: str  # ChargeItem
    price: Decimal
    basis: str  # PriceBasis
    vat_rate: Decimal
    quantity: Decimal = ONE
    name: str = ""


@dataclass(frozen=True)
class Terms:
    """One version's terms, in force over `[start, end)`."""

    lease_start: date  # anchors contract months, escalation anniversaries and cycles
    start: date
    end: date  # exclusive
    area: Decimal
    steps: tuple[Step, ...]
    version: int = 1
    free: tuple[Free, ...] = ()
    charges: tuple[Charge, ...] = ()
    monthly_basis: str = MonthlyBasis.DAYS_365_12
    prices_include_tax: bool = True
    rent_vat_rate: Decimal = Decimal("0.09")
    escalation_rate: Decimal = ZERO
    escalation_every_months: int | None = None
    turnover_rate: Decimal | None = None
    payment_cycle: int = 3
    bill_lead_days: int = 15
    due_offset_days: int = 0


@dataclass(frozen=True)
class ChargeLine:
    """One bill line: an item for a period, its amount with VAT and how it was computed."""

    item: str
    name: str
    period_start: date
    period_end: date  # exclusive
    amount: Decimal  # including VAT
    net: Decimal
    tax: Decimal
    vat_rate: Decimal
    version: int
    trace: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Period:
    """A billing period `[start, end)` with the day its bill is issued and falls due."""

    start: date
    end: date
    issue_date: date
    due_date: date
    version: int


# -- calendar ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 18)  # billing runs ask for the same few dates 10^6 times
def add_months(anchor: date, months: int) -> date:
    """`anchor` moved by whole months, keeping its day or the month's last day."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def months_between(anchor: date, day: date) -> int:
    """How many whole contract months from `anchor` have begun by `day` (may be negative)."""
    k = (day.year - anchor.year) * 12 + day.month - anchor.month
    if add_months(anchor, k) > day:
        k -= 1
    return k


def contract_month(anchor: date, day: date) -> tuple[date, date]:
    """The contract month `[start, end)` that holds `day`."""
    k = months_between(anchor, day)
    return add_months(anchor, k), add_months(anchor, k + 1)


def escalations(terms: Terms, day: date) -> int:
    """How many escalation anniversaries have passed on `day` (the anniversary included)."""
    if not terms.escalation_rate or not terms.escalation_every_months:
        return 0
    return max(0, months_between(terms.lease_start, day) // terms.escalation_every_months)


def escalation_factor(terms: Terms, day: date) -> Decimal:
    return (ONE + terms.escalation_rate) ** escalations(terms, day)


def _anniversaries(terms: Terms, start: date, end: date) -> list[date]:
    if not terms.escalation_rate or not terms.escalation_every_months:
        return []
    out, n = [], 1
    while (d := add_months(terms.lease_start, n * terms.escalation_every_months)) < end:
        if d > start:
            out.append(d)
        n += 1
    return out


def _month_starts(anchor: date, start: date, end: date) -> list[date]:
    out, k = [], months_between(anchor, start) + 1
    while (d := add_months(anchor, k)) < end:
        out.append(d)
        k += 1
    return out


# -- amounts -----------------------------------------------------------------------------------


def month_amount(price: Decimal, basis: str, *, qty: Decimal, month_days: int, monthly_basis: str):
    """The amount of one whole contract month at `price`; `qty` is the area or the quantity."""
    if basis == PriceBasis.SQM_MONTH or basis == PriceBasis.MONTH_FIXED:
        return price * qty
    if basis == PriceBasis.SQM_DAY:
        days = Decimal(365) / 12 if monthly_basis == MonthlyBasis.DAYS_365_12 else month_days
        return price * qty * days
    raise ValueError(f"unknown price basis {basis!r}")


def step_at(terms: Terms, day: date) -> Step:
    current = None
    for step in terms.steps:
        if step.start <= day:
            current = step
    if current is None:
        raise ValueError(f"no rent step in force on {day}")
    return current


def _free_at(terms: Terms, day: date, *, charges: bool) -> Free | None:
    for free in terms.free:
        if free.start <= day < free.end and (free.covers_charges or not charges):
            return free
    return None


def _cuts(terms: Terms, start: date, end: date, *, rent: bool) -> list[tuple[date, date]]:
    cuts = {start, end, *_month_starts(terms.lease_start, start, end)}
    for free in terms.free:
        if rent or free.covers_charges:
            cuts.update(d for d in (free.start, free.end) if start < d < end)
    if rent:
        cuts.update(s.start for s in terms.steps if start < s.start < end)
        cuts.update(_anniversaries(terms, start, end))
    ordered = sorted(cuts)
    return list(zip(ordered, ordered[1:], strict=False))


def _qty(basis: str, area: Decimal, quantity: Decimal) -> Decimal:
    return quantity if basis == PriceBasis.MONTH_FIXED else area


def _split(amount: Decimal, rate: Decimal, inclusive: bool) -> tuple[Decimal, Decimal, Decimal]:
    """(amount, net, tax) of a line, each in fen."""
    if inclusive:
        amount = money(amount)
        tax = money(amount * rate / (ONE + rate))
        return amount, amount - tax, tax
    net = money(amount)
    tax = money(net * rate)
    return net + tax, net, tax


def rent_for_period(terms: Terms, start: date, end: date) -> tuple[Decimal, list[dict]]:
    """Unrounded guaranteed rent for `[start, end)` (inside the terms) and its trace."""
    total, trace = ZERO, []
    for a, b in _cuts(terms, start, end, rent=True):
        m0, m1 = contract_month(terms.lease_start, a)
        days, month_days = (b - a).days, (m1 - m0).days
        step = step_at(terms, a)
        entry = {
            "start": a.isoformat(),
            "end": b.isoformat(),
            "days": days,
            "month_days": month_days,
            "price": str(step.price),
            "basis": step.basis,
            "qty": str(_qty(step.basis, terms.area, ONE)),
            "version": terms.version,
        }
        if _free_at(terms, a, charges=False):
            entry.update(rule="free", factor="1", amount="0")
            trace.append(entry)
            continue
        factor = escalation_factor(terms, a)
        monthly = month_amount(
            step.price,
            step.basis,
            qty=_qty(step.basis, terms.area, ONE),
            month_days=month_days,
            monthly_basis=terms.monthly_basis,
        )
        amount = monthly * factor * days / month_days
        entry.update(
            rule="month" if days == month_days else "days",
            monthly_basis=terms.monthly_basis if step.basis == PriceBasis.SQM_DAY else "",
            factor=str(factor),
            amount=str(amount),
        )
        total += amount
        trace.append(entry)
    return total, trace


def charges_for_period(
    terms: Terms, start: date, end: date, *, turnover: Decimal | None = None
) -> list[ChargeLine]:
    """The charge lines of one version for `[start, end)`, clipped to the version's days.

    `turnover` is what the tenant reported for this period; with a turnover share and no
    report, the guaranteed rent is charged (and the trace says so).
    """
    a, b = max(start, terms.start), min(end, terms.end)
    if a >= b:
        return []
    lines = []
    rent, trace = rent_for_period(terms, a, b)
    if terms.turnover_rate is not None:
        paying_days = sum(t["days"] for t in trace if t["rule"] != "free")
        share_entry = {"rule": "turnover", "rate": str(terms.turnover_rate), "guarantee": str(rent)}
        if turnover is None:
            share_entry.update(turnover=None, share=None, applied="guarantee (no turnover report)")
        else:
            share = turnover * terms.turnover_rate * paying_days / (b - a).days
            share_entry.update(
                turnover=str(turnover),
                paying_days=paying_days,
                share=str(share),
                applied="turnover share" if share > rent else "guarantee",
            )
            rent = max(rent, share)
        trace.append(share_entry)
    amount, net, tax = _split(rent, terms.rent_vat_rate, terms.prices_include_tax)
    lines.append(
        ChargeLine(
            ChargeItem.RENT, "", a, b, amount, net, tax, terms.rent_vat_rate, terms.version, trace
        )
    )
    for charge in terms.charges:
        total, trace = ZERO, []
        qty = _qty(charge.basis, terms.area, charge.quantity)
        for s, e in _cuts(terms, a, b, rent=False):
            m0, m1 = contract_month(terms.lease_start, s)
            days, month_days = (e - s).days, (m1 - m0).days
            entry = {
                "start": s.isoformat(),
                "end": e.isoformat(),
                "days": days,
                "month_days": month_days,
                "price": str(charge.price),
                "basis": charge.basis,
                "qty": str(qty),
                "version": terms.version,
            }
            if _free_at(terms, s, charges=True):
                entry.update(rule="free", amount="0")
            else:
                monthly = month_amount(
                    charge.price,
                    charge.basis,
                    qty=qty,
                    month_days=month_days,
                    monthly_basis=terms.monthly_basis,
                )
                value = monthly * days / month_days
                entry.update(rule="month" if days == month_days else "days", amount=str(value))
                total += value
            trace.append(entry)
        amount, net, tax = _split(total, charge.vat_rate, terms.prices_include_tax)
        lines.append(
            ChargeLine(
                charge.item,
                charge.name,
                a,
                b,
                amount,
                net,
                tax,
                charge.vat_rate,
                terms.version,
                trace,
            )  # fmt: skip
        )
    return lines


def lease_charges(
    terms: list[Terms], start: date, end: date, *, turnover: Decimal | None = None
) -> list[ChargeLine]:
    """Charge lines of a whole lease for `[start, end)`: one set per version in force.

    A turnover report for a period that spans versions is shared among them by days.
    """
    lines = []
    days = (end - start).days
    for t in terms:
        a, b = max(start, t.start), min(end, t.end)
        if a >= b:
            continue
        share = None if turnover is None else turnover * (b - a).days / days
        lines.extend(charges_for_period(t, a, b, turnover=share))
    return lines


def monthly_rent(terms: Terms, on: date) -> Decimal:
    """A whole contract month's rent at the price in force on `on` (free periods ignored),
    in fen: the base of penalties and of the headline rent."""
    m0, m1 = contract_month(terms.lease_start, on)
    step = step_at(terms, on)
    monthly = month_amount(
        step.price,
        step.basis,
        qty=_qty(step.basis, terms.area, ONE),
        month_days=(m1 - m0).days,
        monthly_basis=terms.monthly_basis,
    )
    return money(monthly * escalation_factor(terms, on))


def rent_per_sqm_month(terms: Terms, on: date) -> Decimal:
    """The headline rent in 元/m²/month on `on`, to four places (365/12 days a month)."""
    step = step_at(terms, on)
    monthly = month_amount(
        step.price,
        step.basis,
        qty=_qty(step.basis, terms.area, ONE),
        month_days=30,
        monthly_basis=MonthlyBasis.DAYS_365_12,
    )
    per = monthly * escalation_factor(terms, on) / terms.area if terms.area else ZERO
    return per.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


# -- schedule ----------------------------------------------------------------------------------


def _in_force(terms: list[Terms], day: date) -> Terms:
    for t in terms:
        if t.start <= day < t.end:
            return t
    raise ValueError(f"no version in force on {day}")


def schedule(terms: list[Terms], *, until: date | None = None) -> list[Period]:
    """Billing periods from the lease start to its end (or `until`), by payment cycle.

    Periods run in whole cycles from the lease start; when an amendment changes the
    cycle, the period it falls in ends on the amendment's date and new cycles start there.
    The bill is issued `bill_lead_days` before a period and due `due_offset_days` after
    its start.
    """
    if not terms:
        return []
    first, last = terms[0], terms[-1]
    stop = last.end if until is None else min(last.end, until)
    periods: list[Period] = []
    current = first.start
    anchor, cycle, k = first.lease_start, first.payment_cycle, 0
    while current < stop:
        t = _in_force(terms, current)
        if t.payment_cycle != cycle:
            anchor, cycle, k = current, t.payment_cycle, 0
        while add_months(anchor, (k + 1) * cycle) <= current:
            k += 1
        nxt = add_months(anchor, (k + 1) * cycle)
        for later in terms:
            if current < later.start < nxt and later.payment_cycle != cycle:
                nxt = later.start
        nxt = min(nxt, last.end)
        periods.append(
            Period(
                start=current,
                end=nxt,
                issue_date=current - timedelta(days=t.bill_lead_days),
                due_date=current + timedelta(days=t.due_offset_days),
                version=t.version,
            )
        )
        current = nxt
    return periods


# -- from the database -------------------------------------------------------------------------


def terms_of(version, *, start: date, end: date, lease_start: date) -> Terms:
    """Terms of a LeaseVersion (with its steps, free periods, charges and lines loaded)."""
    return Terms(
        lease_start=lease_start,
        start=start,
        end=end,
        area=sum((line.area for line in version.lines.all()), ZERO),
        steps=tuple(Step(s.start_date, s.price, s.basis) for s in version.steps.all()),
        version=version.number,
        free=tuple(
            Free(f.start_date, f.end_date + DAY, f.covers_charges)
            for f in version.free_periods.all()
        ),
        charges=tuple(
            Charge(c.item, c.price, c.basis, c.vat_rate, c.quantity, c.name)
            for c in version.charges.all()
        ),
        monthly_basis=version.monthly_basis,
        prices_include_tax=version.prices_include_tax,
        rent_vat_rate=version.rent_vat_rate,
        escalation_rate=version.escalation_rate,
        escalation_every_months=version.escalation_every_months,
        turnover_rate=version.turnover_rate,
        payment_cycle=version.payment_cycle,
        bill_lead_days=version.bill_lead_days,
        due_offset_days=version.due_offset_days,
    )


def lease_end(lease) -> date:
    """The day after the lease's last day: its end date, or its move-out date."""
    return (lease.move_out_date or lease.end_date) + DAY


def terms_for_lease(lease) -> list[Terms]:
    """One Terms per version of `lease`, each in force until the next one takes effect."""
    versions = list(
        lease.versions.prefetch_related("steps", "free_periods", "charges", "lines").order_by(
            "number"
        )
    )
    end = lease_end(lease)
    out = []
    for i, version in enumerate(versions):
        start = max(version.effective_from, lease.start_date)
        stop = versions[i + 1].effective_from if i + 1 < len(versions) else end
        stop = min(stop, end)
        if start < stop:
            out.append(terms_of(version, start=start, end=stop, lease_start=lease.start_date))
    return out
