"""The billing engine: receivable schedules from the contracts' terms, and billing runs.

The amounts come from the rent engine (`leasing.rent`): steps, escalation, free periods,
proration by actual days, fen rounding and the VAT split are all computed there. This
module decides *which* periods are billed when, adds the charge items' tax codes, the
approved abatements and the calculation trace, and writes the bills.

A run for a month (`billing_run`) posts every regular bill whose period starts in that
month, the turnover bills of reports whose period has ended, and the meter bills of the
month before. Regular bills are written in bulk: terms for all leases are read in a handful
of queries (plain tuples, not model instances), amounts are computed in Python, and each
chunk of leases is written with COPY in one transaction. A lease whose computation fails is
skipped with its error and the others go on; a chunk that the database refuses is retried
lease by lease through `bill_post`. A crash between chunks leaves whole chunks written,
and the rerun skips what is posted ("already posted"), so totals reconcile to the fen.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from finance.models import (
    Abatement,
    ApprovalStatus,
    Bill,
    BillingRun,
    BillKind,
    ChargeItemConfig,
    RunStatus,
)
from finance.services import PREFIX, abatement_lines, bill_post
from leasing import rent
from leasing.rent import Charge, Free, Period, Step, Terms, add_months, months_between
from spatial.models import Company

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
ZERO = Decimal("0")
BILLED_STATUSES = ("active", "expired", "terminated")
CHUNK = 5000
#: How many skipped leases a run's summary lists one by one (the counts are always complete).
SKIPPED_LISTED = 200
ITEM_NAMES = {
    "rent": "租金",
    "property_fee": "物业费",
    "parking": "停车费",
    "advertising": "广告位使用费",
    "other": "其他费用",
}


# -- periods -----------------------------------------------------------------------------------


def month_bounds(month: date) -> tuple[date, date]:
    start = month.replace(day=1)
    return start, add_months(start, 1)


def periods_starting(terms: list[Terms], start: date, end: date) -> list[Period]:
    """The billing periods of `rent.schedule(terms)` that start in `[start, end)`, computed
    directly instead of walking the schedule from the lease start (the same result; a test
    checks it against `rent.schedule`)."""
    if not terms:
        return []
    last_end = terms[-1].end
    # Runs of consecutive versions with one payment cycle; a run's cycles count from its
    # anchor: the lease start for the first, the version start where the cycle changed.
    runs: list[tuple[date, date, date, int]] = []  # (run start, run end, anchor, cycle)
    for t in terms:
        if runs and runs[-1][3] == t.payment_cycle:
            s, _e, anchor, cycle = runs[-1]
            runs[-1] = (s, t.end, anchor, cycle)
        else:
            anchor = t.lease_start if not runs else t.start
            runs.append((t.start, t.end, anchor, t.payment_cycle))
    out = []
    for run_start, run_end, anchor, cycle in runs:
        if run_end <= start or run_start >= end:
            continue
        first = max(start, run_start)
        k = max(0, months_between(anchor, first) // cycle)
        boundary = add_months(anchor, k * cycle)
        candidates = []
        if start <= run_start < end:
            candidates.append(run_start)
        while boundary < min(end, run_end):
            if boundary > run_start and boundary >= start:
                candidates.append(boundary)
            k += 1
            boundary = add_months(anchor, k * cycle)
        for p_start in candidates:
            kk = months_between(anchor, p_start) // cycle
            p_end = min(add_months(anchor, (kk + 1) * cycle), run_end, last_end)
            t = _in_force(terms, p_start)
            out.append(
                Period(
                    start=p_start,
                    end=p_end,
                    issue_date=p_start - timedelta(days=t.bill_lead_days),
                    due_date=p_start + timedelta(days=t.due_offset_days),
                    version=t.version,
                )
            )
    return out


def _in_force(terms: list[Terms], day: date) -> Terms:
    for t in terms:
        if t.start <= day < t.end:
            return t
    raise ValueError(f"no version in force on {day}")


# -- terms in bulk -----------------------------------------------------------------------------


@dataclass
class LeaseRow:
    """What billing needs of a lease, read without the ORM."""

    id: int
    company_id: int
    tenant_id: int
    number: str
    start_date: date
    end_date: date
    move_out_date: date | None
    unit_id: int | None = None  # the unit, when the lease has exactly one
    terms: list[Terms] = field(default_factory=list)


LEASES_SQL = """
    SELECT l.id, l.company_id, l.tenant_id, l.number, l.start_date, l.end_date, l.move_out_date
      FROM leasing_lease l
     WHERE l.status = ANY(%(statuses)s)
       AND l.start_date < %(end)s
       AND COALESCE(l.move_out_date, l.end_date) >= %(start)s
       {company}
"""


def leases_load(*, start: date, end: date, company: Company | None = None) -> list[LeaseRow]:
    """Leases that may bill in `[start, end)` with their terms, in six queries."""
    where = ""
    params: dict = {"statuses": list(BILLED_STATUSES), "start": start, "end": end}
    if company is not None:
        where = "AND l.company_id IN (SELECT id FROM spatial_company WHERE path LIKE %(path)s)"
        params["path"] = company.path + "%"
    scope = LEASES_SQL.format(company=where)
    with connection.cursor() as cursor:
        cursor.execute(scope + " ORDER BY l.id", params)
        leases = {r[0]: LeaseRow(*r) for r in cursor.fetchall()}
        # Every statement below is built from this module's constants; values are parameters.
        inner = f"SELECT l.id FROM leasing_lease l WHERE {scope.split('WHERE', 1)[1]}"  # noqa: S608
        cursor.execute(
            f"""SELECT v.id, v.lease_id, v.number, v.effective_from, v.payment_cycle,
                       v.bill_lead_days, v.due_offset_days, v.monthly_basis,
                       v.prices_include_tax, v.rent_vat_rate, v.escalation_rate,
                       v.escalation_every_months, v.turnover_rate
                  FROM leasing_leaseversion v WHERE v.lease_id IN ({inner})
                 ORDER BY v.lease_id, v.number""",  # noqa: S608
            params,
        )
        versions = cursor.fetchall()
        children: dict[str, dict[int, list]] = {}
        # (name, columns, tables, order): rows by version, in the order the ORM reads them
        for name, columns, source, order in (
            ("steps", "s.version_id, s.start_date, s.price, s.basis",
             "leasing_rentstep s JOIN leasing_leaseversion v ON v.id = s.version_id", "2"),
            ("free", "f.version_id, f.start_date, f.end_date, f.covers_charges",
             "leasing_freeperiod f JOIN leasing_leaseversion v ON v.id = f.version_id", "2"),
            ("charges", "c.version_id, c.item, c.price, c.basis, c.vat_rate, c.quantity, c.name",
             "leasing_leasecharge c JOIN leasing_leaseversion v ON v.id = c.version_id", "c.id"),
            ("lines", "v.version_id, v.area, v.unit_id", "leasing_leaseunit v", "3"),
        ):  # fmt: skip
            query = (
                f"SELECT {columns} FROM {source} WHERE v.lease_id IN ({inner})"  # noqa: S608
                f" ORDER BY 1, {order}"
            )
            cursor.execute(query, params)
            grouped: dict[int, list] = defaultdict(list)
            for row in cursor.fetchall():
                grouped[row[0]].append(row[1:])
            children[name] = grouped
    by_lease: dict[int, list] = defaultdict(list)
    for v in versions:
        by_lease[v[1]].append(v)
    steps, free, charges, lines = (children[k] for k in ("steps", "free", "charges", "lines"))
    for lease_id, rows in by_lease.items():
        lease = leases.get(lease_id)
        if lease is None:
            continue
        end_excl = (lease.move_out_date or lease.end_date) + DAY
        units = {u for v in rows for _a, u in lines.get(v[0], ())}
        lease.unit_id = next(iter(units)) if len(units) == 1 else None
        for i, v in enumerate(rows):
            vid = v[0]
            v_start = max(v[3], lease.start_date)
            v_stop = min(rows[i + 1][3] if i + 1 < len(rows) else end_excl, end_excl)
            if v_start >= v_stop:
                continue
            lease.terms.append(
                Terms(
                    lease_start=lease.start_date,
                    start=v_start,
                    end=v_stop,
                    area=sum((a for a, _u in lines.get(vid, ())), ZERO),
                    steps=tuple(Step(*s) for s in steps.get(vid, ())),
                    version=v[2],
                    free=tuple(Free(s, e + DAY, c) for s, e, c in free.get(vid, ())),
                    charges=tuple(
                        Charge(item, price, basis, vat, qty, name)
                        for item, price, basis, vat, qty, name in charges.get(vid, ())
                    ),
                    monthly_basis=v[7],
                    prices_include_tax=v[8],
                    rent_vat_rate=v[9],
                    escalation_rate=v[10],
                    escalation_every_months=v[11],
                    turnover_rate=v[12],
                    payment_cycle=v[4],
                    bill_lead_days=v[5],
                    due_offset_days=v[6],
                )
            )
    return list(leases.values())


# -- bills in memory ---------------------------------------------------------------------------


@dataclass
class PlannedBill:
    """A bill as the schedule has it, before it is posted."""

    lease_id: int
    company_id: int
    tenant_id: int
    kind: str
    period: Period
    lines: list[dict]
    abatement_ids: list[int] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return sum((line["amount"] for line in self.lines), ZERO)

    @property
    def net(self) -> Decimal:
        return sum((line["net"] for line in self.lines), ZERO)

    @property
    def tax(self) -> Decimal:
        return sum((line["tax"] for line in self.lines), ZERO)


def item_configs() -> dict[str, ChargeItemConfig]:
    return {c.code: c for c in ChargeItemConfig.objects.all()}


def line_of(charge: rent.ChargeLine, *, terms: Terms, unit_id, configs) -> dict:
    """A bill line (as `bill_post` takes it, net and tax already split) with its trace."""
    config = configs.get(charge.item)
    segments = [s for s in charge.trace if s.get("rule") != "turnover"]
    trace = {
        "rule": "contract",
        "item": charge.item,
        "version": charge.version,
        "area": str(terms.area),
        "days": (charge.period_end - charge.period_start).days,
        "prices_include_tax": terms.prices_include_tax,
        "vat_rate": str(charge.vat_rate),
        "unrounded": str(sum((Decimal(s.get("amount", "0")) for s in segments), ZERO)),
        "rounding": "ROUND_HALF_UP, 0.01",
        "segments": segments,
    }
    share = [s for s in charge.trace if s.get("rule") == "turnover"]
    if share:
        trace["turnover"] = {**share[0], "applied": "guarantee; any share above it is billed"
                             " on a turnover bill once the tenant reports"}  # fmt: skip
    return {
        "item": charge.item,
        "description": charge.name or ITEM_NAMES.get(charge.item, charge.item),
        "unit": unit_id,
        "period_start": charge.period_start,
        "period_end": charge.period_end,
        "amount": charge.amount,
        "net": charge.net,
        "tax": charge.tax,
        "vat_rate": charge.vat_rate,
        "tax_code": config.tax_code if config else "",
        "trace": trace,
    }


def plan_regular(
    lease: LeaseRow, period: Period, *, configs, abatements: Iterable[Abatement] = ()
) -> PlannedBill:
    """The regular bill of `lease` for `period`: the rent engine's lines (guaranteed rent,
    no turnover share), then one negative line per abated line of each approved abatement."""
    lines = []
    for charge in rent.lease_charges(lease.terms, period.start, period.end):
        terms = _in_force(lease.terms, charge.period_start)
        lines.append(line_of(charge, terms=terms, unit_id=lease.unit_id, configs=configs))
    applied = []
    for abatement in abatements:
        if abatement.period_start < period.end and abatement.period_end > period.start:
            extra = abatement_lines(abatement, lines)
            if extra:
                lines.extend(extra)
                applied.append(abatement.pk)
    return PlannedBill(lease.id, lease.company_id, lease.tenant_id, BillKind.REGULAR, period,
                       lines, applied)  # fmt: skip


def receivable_schedule(lease, *, start: date | None = None, until: date | None = None):
    """应收计划: every regular bill of `lease` from `start` (its first period) to `until` (its
    end), with lines, amounts, VAT split and traces, whether posted or not."""
    row = LeaseRow(lease.pk, lease.company_id, lease.tenant_id, lease.number, lease.start_date,
                   lease.end_date, lease.move_out_date)  # fmt: skip
    row.terms = rent.terms_for_lease(lease)
    units = set(lease.lines.values_list("unit_id", flat=True))
    row.unit_id = next(iter(units)) if len(units) == 1 else None
    configs = item_configs()
    abatements = list(lease.abatements.filter(status=ApprovalStatus.APPROVED))
    posted = dict(
        Bill.objects.filter(lease=lease, kind=BillKind.REGULAR).values_list("period_start", "pk")
    )
    out = []
    for period in rent.schedule(row.terms, until=until):
        if start and period.end <= start:
            continue
        plan = plan_regular(row, period, configs=configs, abatements=abatements)
        out.append({"plan": plan, "posted_bill": posted.get(period.start)})
    return out


# -- writing -----------------------------------------------------------------------------------

BILL_COLUMNS = (
    "id", "company_id", "lease_id", "tenant_id", "number", "kind", "period_start", "period_end",
    "due_date", "amount", "net", "tax", "corrects_id", "reason", "posted_at", "posted_by_id",
    "run_id",
)  # fmt: skip
LINE_COLUMNS = (
    "bill_id", "item", "description", "unit_id", "period_start", "period_end", "amount", "net",
    "tax", "vat_rate", "tax_code", "trace",
)  # fmt: skip


def _reserve(cursor, sequence_sql: str, count: int) -> list[int]:
    cursor.execute(f"SELECT {sequence_sql} FROM generate_series(1, %s)", [count])  # noqa: S608
    return [r[0] for r in cursor.fetchall()]


def bills_write(plans: list[PlannedBill], *, run: BillingRun | None, user=None) -> int:
    """Write `plans` with COPY (bills, then lines) in the caller's transaction; marks the
    abatements applied. Returns the number of lines written."""
    if not plans:
        return 0
    now = timezone.now()
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    with connection.cursor() as cursor:
        ids = _reserve(cursor, "nextval(pg_get_serial_sequence('finance_bill', 'id'))", len(plans))
        seqs = _reserve(cursor, "nextval('finance_bill_number_seq')", len(plans))
        raw = cursor.connection  # psycopg 3: COPY through the driver's cursor
        with raw.cursor() as pg:
            with pg.copy(f"COPY finance_bill ({', '.join(BILL_COLUMNS)}) FROM STDIN") as copy:
                for bill_id, seq, p in zip(ids, seqs, plans, strict=True):
                    copy.write_row((
                        bill_id, p.company_id, p.lease_id, p.tenant_id,
                        f"{PREFIX[p.kind]}{p.period.start:%Y%m}-{seq:08d}", p.kind,
                        p.period.start, p.period.end, p.period.due_date, p.amount, p.net, p.tax,
                        None, "", now, user_id, run.pk if run else None,
                    ))  # fmt: skip
            lines = 0
            with pg.copy(f"COPY finance_billline ({', '.join(LINE_COLUMNS)}) FROM STDIN") as copy:
                for bill_id, p in zip(ids, plans, strict=True):
                    for line in p.lines:
                        copy.write_row((
                            bill_id, line["item"], line["description"][:200], line["unit"],
                            line["period_start"], line["period_end"], line["amount"],
                            line["net"], line["tax"], line["vat_rate"], line["tax_code"],
                            json.dumps(line["trace"], ensure_ascii=False, default=str),
                        ))  # fmt: skip
                        lines += 1
        for bill_id, p in zip(ids, plans, strict=True):
            if p.abatement_ids:
                Abatement.objects.filter(pk__in=p.abatement_ids).update(bill_id=bill_id)
    return lines


def _post_one(plan: PlannedBill, *, run: BillingRun | None, user=None) -> Bill:
    """The slow path for one bill: `bill_post` (numbers, checks) in a savepoint."""
    from leasing.models import Lease

    lease = Lease.objects.get(pk=plan.lease_id)
    with transaction.atomic():
        bill = bill_post(
            lease=lease, kind=plan.kind, period_start=plan.period.start,
            period_end=plan.period.end, due_date=plan.period.due_date,
            lines=[{**line, "unit_id": line["unit"]} for line in plan.lines], user=user,
        )  # fmt: skip
        if run is not None:
            Bill.objects.filter(pk=bill.pk).update(run=run)
        if plan.abatement_ids:
            Abatement.objects.filter(pk__in=plan.abatement_ids).update(bill=bill)
    return bill


# -- the run -----------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What a run did, as its summary shows it."""

    leases: int = 0
    bills: int = 0
    lines: int = 0
    amount: Decimal = ZERO
    by_kind: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    skipped_list: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def skip(self, lease_id: int, number: str, reason: str, period: date | None = None) -> None:
        self.skipped[reason.split(":")[0]] += 1
        if len(self.skipped_list) < SKIPPED_LISTED:
            entry = {"lease": lease_id, "number": number, "reason": reason}
            if period:
                entry["period_start"] = period.isoformat()
            self.skipped_list.append(entry)

    def posted(self, plan: PlannedBill, lines: int) -> None:
        self.bills += 1
        self.lines += lines
        self.amount += plan.amount
        self.by_kind[plan.kind] += 1


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _write_chunk(plans: list[PlannedBill], result: RunResult, *, run, user, numbers) -> None:
    """Write one chunk atomically with COPY; if the database refuses it, post its bills one
    by one so that only the lease at fault is skipped."""
    if not plans:
        return
    clock = time.perf_counter()
    try:
        with transaction.atomic():
            bills_write(plans, run=run, user=user)
        for p in plans:
            result.posted(p, len(p.lines))
    except DatabaseError as exc:
        log.warning("billing chunk refused (%s); posting its bills one by one", exc)
        for p in plans:
            try:
                _post_one(p, run=run, user=user)
                result.posted(p, len(p.lines))
            except (DatabaseError, ValueError, ValidationError) as one:
                result.skip(p.lease_id, numbers[p.lease_id], f"error: {one}", p.period.start)
    result.seconds["write"] = result.seconds.get("write", 0) + time.perf_counter() - clock


def regular_bills_post(
    leases: list[LeaseRow], *, month: date, run: BillingRun | None, result: RunResult,
    user=None, chunk: int = CHUNK,
) -> None:  # fmt: skip
    """Post the regular bills of `leases` for periods starting in `month`, chunk by chunk."""
    start, end = month_bounds(month)
    configs = item_configs()
    posted = set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lease_id, period_start FROM finance_bill WHERE kind = 'regular'"
            " AND period_start >= %s AND period_start < %s",
            [start, end],
        )
        posted = set(cursor.fetchall())
    abatements: dict[int, list[Abatement]] = defaultdict(list)
    for a in Abatement.objects.filter(
        status=ApprovalStatus.APPROVED, bill__isnull=True, period_start__lt=add_months(end, 12),
        period_end__gt=start,
    ):  # fmt: skip
        abatements[a.lease_id].append(a)
    numbers = {lease.id: lease.number for lease in leases}
    for group in _chunks(leases, chunk):
        plans = []
        for lease in group:
            result.leases += 1
            try:
                periods = periods_starting(lease.terms, start, end)
                if not lease.terms:
                    result.skip(lease.id, lease.number, "no terms in force")
                    continue
                if not periods:
                    result.skip(lease.id, lease.number, "no period starts this month")
                    continue
                for period in periods:
                    if (lease.id, period.start) in posted:
                        result.skip(lease.id, lease.number, "already posted", period.start)
                        continue
                    plan = plan_regular(lease, period, configs=configs,
                                        abatements=abatements.get(lease.id, ()))  # fmt: skip
                    if not plan.lines or plan.amount < 0:
                        result.skip(lease.id, lease.number, "nothing to bill", period.start)
                        continue
                    plans.append(plan)
            except (ValueError, ArithmeticError, TypeError) as exc:
                result.skip(lease.id, lease.number, f"error: {exc}")
        _write_chunk(plans, result, run=run, user=user, numbers=numbers)


def billing_run(
    *, month: date, company: Company | None = None, user=None, chunk: int = CHUNK
) -> BillingRun:
    """Post every bill due for `month` (see the module docstring); idempotent.

    Runs for overlapping scopes are serialised by an advisory lock; each run leaves a
    BillingRun with what it posted and what it skipped and why.
    """
    from finance import meters, turnover

    month = month.replace(day=1)
    run = BillingRun.objects.create(
        period=month, company=company,
        started_by=user if getattr(user, "is_authenticated", False) else None,
    )  # fmt: skip
    result = RunResult()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(hashtext('finance.billing_run'))")
        try:
            start, end = month_bounds(month)
            clock = time.perf_counter()
            leases = leases_load(start=start, end=end, company=company)
            result.seconds["load"] = time.perf_counter() - clock
            regular_bills_post(leases, month=month, run=run, result=result, user=user,
                               chunk=chunk)  # fmt: skip
            result.seconds["regular"] = time.perf_counter() - clock - result.seconds["load"]
            clock = time.perf_counter()
            turnover.turnover_bills_post(month=month, company=company, run=run, result=result,
                                         user=user)  # fmt: skip
            result.seconds["turnover"] = time.perf_counter() - clock
            clock = time.perf_counter()
            meters.meter_bills_post(month=month, company=company, run=run, result=result,
                                    user=user)  # fmt: skip
            result.seconds["meters"] = time.perf_counter() - clock
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext('finance.billing_run'))")
    except Exception as exc:  # noqa: BLE001 - recorded on the run, then re-raised
        _finish(run, result, status=RunStatus.FAILED, error=repr(exc))
        raise
    _finish(run, result, status=RunStatus.DONE)
    return run


def _finish(run: BillingRun, result: RunResult, *, status: str, error: str = "") -> None:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    run.leases = result.leases
    run.bills_posted = result.bills
    run.lines_posted = result.lines
    run.amount_posted = result.amount
    run.skipped = sum(result.skipped.values())
    run.summary = {
        "posted_by_kind": dict(result.by_kind),
        "skipped_by_reason": dict(result.skipped),
        "skipped": result.skipped_list,
        "seconds": {k: round(v, 2) for k, v in result.seconds.items()},
    }
    run.save()


def parse_month(value: str) -> date:
    """'2026-11' → 1 Nov 2026; a clear error otherwise."""
    try:
        year, month = value.split("-")
        return date(int(year), int(month), 1)
    except (ValueError, AttributeError) as exc:
        raise ValidationError({"period": [_("Give a month as YYYY-MM.")]}) from exc
