"""Asset coding patterns: "{company}-{category}-{year}-{seq:05}" and the like."""

import string
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

TOKENS = {"company", "category", "year", "yy", "month", "seq"}


@dataclass(frozen=True)
class ParsedPattern:
    prefix_template: str  # the pattern with the sequence token removed: the sequence key
    seq_width: int


def parse_pattern(pattern: str) -> ParsedPattern:
    """Check a pattern: known tokens only, exactly one {seq} or {seq:N}; N from 1 to 12."""
    errors: list[str] = []
    seq_width = None
    prefix = []
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValidationError({"pattern": [_("Malformed pattern: %s") % exc]}) from exc
    for literal, field, spec, conversion in parts:
        prefix.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if field not in TOKENS or conversion:
            errors.append(
                _("Unknown token {%(token)s}; use %(tokens)s.")
                % {"token": field, "tokens": ", ".join(f"{{{t}}}" for t in sorted(TOKENS))}
            )
            continue
        if field == "seq":
            if seq_width is not None:
                errors.append(_("The pattern may contain {seq} only once."))
            width = spec.lstrip("0") or "1" if spec else "1"
            if not width.isdigit() or not 1 <= int(width) <= 12:
                errors.append(_("The width of {seq:N} must be a number from 1 to 12."))
                width = "1"
            seq_width = int(width)
            prefix.append("\x00")  # where the number goes
        else:
            if spec:
                errors.append(_("Token {%(token)s} takes no format.") % {"token": field})
            prefix.append("{" + field + "}")
    if seq_width is None:
        errors.append(_("The pattern must contain a sequence token such as {seq:05}."))
    if errors:
        raise ValidationError({"pattern": errors})
    return ParsedPattern(prefix_template="".join(prefix), seq_width=seq_width or 1)


def render(pattern: str, *, company_code: str, category_code: str, on: date) -> tuple[str, str]:
    """Return (sequence key, template with "\\x00" where the number goes)."""
    parsed = parse_pattern(pattern)
    filled = parsed.prefix_template.format(
        company=company_code,
        category=category_code,
        year=f"{on.year:04d}",
        yy=f"{on.year % 100:02d}",
        month=f"{on.month:02d}",
    )
    return filled.replace("\x00", "#"), filled


def format_code(filled: str, number: int, width: int) -> str:
    return filled.replace("\x00", f"{number:0{width}d}")
