"""One JSON error shape for the whole API: {"field": ["reason"]} or {"detail": "reason"}."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler


def _django_errors(exc: DjangoValidationError) -> dict | list:
    if hasattr(exc, "error_dict"):
        return {
            (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): messages
            for field, messages in exc.message_dict.items()
        }
    return {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(_django_errors(exc))
    elif isinstance(exc, ProtectedError | RestrictedError):
        blockers = (
            sorted({str(o._meta.verbose_name) for o in exc.protected_objects})
            if hasattr(exc, "protected_objects")
            else []
        )
        return Response(
            {"detail": f"In use by other records ({', '.join(blockers)}); remove those first."},
            status=status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, IntegrityError):
        return Response(
            {"detail": f"Conflicts with stored data: {str(exc).splitlines()[0]}"},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
