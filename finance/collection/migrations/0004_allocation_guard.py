"""A receipt number sequence, and a database guard under the services' row locks: no bill is allocated more than its
amount (or below zero), no receipt more than it brought in (or less than nothing)."""

from django.db import migrations

GUARD = """
CREATE FUNCTION collection_allocation_guard() RETURNS trigger AS $$
DECLARE
    bill_amount numeric;
    bill_total numeric;
    receipt_amount numeric;
    receipt_kind text;
    receipt_total numeric;
BEGIN
    -- Lock the bill and the receipt so that concurrent writers queue here and each sees
    -- the other's committed allocations (READ COMMITTED takes a new snapshot per statement).
    SELECT amount INTO bill_amount FROM finance_bill WHERE id = NEW.bill_id FOR UPDATE;
    SELECT amount, kind INTO receipt_amount, receipt_kind
        FROM collection_receipt WHERE id = NEW.receipt_id FOR UPDATE;
    SELECT COALESCE(SUM(amount), 0) INTO bill_total
        FROM collection_allocation WHERE bill_id = NEW.bill_id;
    IF bill_total > GREATEST(bill_amount, 0) OR bill_total < LEAST(bill_amount, 0) THEN
        RAISE EXCEPTION 'bill % over-allocated: % of %', NEW.bill_id, bill_total, bill_amount
            USING ERRCODE = 'check_violation';
    END IF;
    IF receipt_kind = 'deposit' THEN
        RAISE EXCEPTION 'deposit receipt % cannot be allocated to bills', NEW.receipt_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF receipt_kind <> 'offset' THEN
        SELECT COALESCE(SUM(amount), 0) INTO receipt_total
            FROM collection_allocation WHERE receipt_id = NEW.receipt_id;
        IF receipt_total > GREATEST(receipt_amount, 0)
                OR receipt_total < LEAST(receipt_amount, 0) THEN
            RAISE EXCEPTION 'receipt % over-allocated: % of %',
                NEW.receipt_id, receipt_total, receipt_amount
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER collection_allocation_guard
    AFTER INSERT OR UPDATE ON collection_allocation
    FOR EACH ROW EXECUTE FUNCTION collection_allocation_guard();
"""

UNGUARD = """
DROP TRIGGER IF EXISTS collection_allocation_guard ON collection_allocation;
DROP FUNCTION IF EXISTS collection_allocation_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("collection", "0003_late_fees_dunning")]

    operations = [
        migrations.RunSQL(GUARD, UNGUARD),
        # Receipt numbers, like bill numbers, come from one sequence: unique under concurrency.
        migrations.RunSQL(
            "CREATE SEQUENCE collection_receipt_number_seq",
            "DROP SEQUENCE collection_receipt_number_seq",
        ),
    ]
