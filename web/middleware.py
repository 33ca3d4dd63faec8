"""Request language: Chinese unless the user chose otherwise."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.urls import get_script_prefix, is_valid_path
from django.utils import translation
from django.utils.cache import patch_vary_headers

API_PREFIXES = ("/api/", "/wfs", "/tiles/")


def _chosen_language(request) -> str | None:
    """The language in the URL prefix (/en/…), else the one saved by the language menu."""
    language = translation.get_language_from_path(request.path_info)
    if language:
        return language
    cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if cookie:
        try:
            return translation.get_supported_language_variant(cookie)
        except LookupError:
            return None
    return None


class LocaleMiddleware(DjangoLocaleMiddleware):
    """Django's LocaleMiddleware, with the product's rule for choosing the language.

    Pages are Chinese unless the user picked English (the /en/ prefix or the language
    menu's cookie); the browser's Accept-Language does not switch the UI away from the
    default. API clients (REST, WFS, tiles) get their Accept-Language, so a script can ask
    for English error messages. With `prefix_default_language=False` unprefixed page URLs
    only resolve in Chinese, so a page requested in English is redirected to its /en/ URL.
    """

    def process_request(self, request):
        if request.path_info.startswith(API_PREFIXES):
            language = translation.get_language_from_request(request, check_path=True)
        else:
            language = _chosen_language(request) or settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        language = translation.get_language()
        if response.status_code == 404 and not translation.get_language_from_path(
            request.path_info
        ):
            language_path = f"/{language}{request.path_info}"
            if is_valid_path(language_path, getattr(request, "urlconf", None)):
                prefix = get_script_prefix()
                redirect = self.response_redirect_class(
                    request.get_full_path().replace(prefix, f"{prefix}{language}/", 1)
                )
                patch_vary_headers(redirect, ("Cookie",))
                return redirect
        return super().process_response(request, response)
