"""Writes of the invoicing app, one module per concern.

Index:
    invoices: invoice_request_create, invoice_request_cancel, invoice_requests_submit,
              invoice_result_apply, invoice_results_import, invoice_red_reverse
    bank:     bank_statement_import, bank_lines_match, bank_line_match, bank_line_ignore
    vouchers: voucher_for_bill, voucher_for_receipt, vouchers_generate, vouchers_export
"""

from finance.invoicing.services.bank import (
    bank_line_ignore,
    bank_line_match,
    bank_lines_match,
    bank_statement_import,
)
from finance.invoicing.services.invoices import (
    invoice_red_reverse,
    invoice_request_cancel,
    invoice_request_create,
    invoice_requests_submit,
    invoice_result_apply,
    invoice_results_import,
)
from finance.invoicing.services.vouchers import (
    account_code_save,
    account_codes,
    period_bounds,
    voucher_for_bill,
    voucher_for_receipt,
    vouchers_export,
    vouchers_generate,
)

__all__ = [
    "account_code_save",
    "account_codes",
    "bank_line_ignore",
    "bank_line_match",
    "bank_lines_match",
    "bank_statement_import",
    "invoice_red_reverse",
    "invoice_request_cancel",
    "invoice_request_create",
    "invoice_requests_submit",
    "invoice_result_apply",
    "invoice_results_import",
    "period_bounds",
    "voucher_for_bill",
    "voucher_for_receipt",
    "vouchers_export",
    "vouchers_generate",
]
