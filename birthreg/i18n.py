"""Languages: Kazakh (the default), Russian and English, for pages and for messages from code.

Every user-facing string is written in English in a template (`{% trans %}`, `_()`) or in Python
(`gettext`, `ngettext`, `lazy_gettext`, `gettext_in`) and translated through the catalogs in
`birthreg/locales/<lang>/LC_MESSAGES/birthreg.po`. The catalogs are compiled in memory the first
time a language is used, so there are no `.mo` files and no build step; `tests/test_i18n.py`
extracts every message with Babel (mapping in `babel.cfg`, keywords in `EXTRACT_KEYWORDS`) and
fails when one is missing or untranslated in Kazakh or Russian.

The language of a request: the `lang` cookie when it names a supported language, else the best
match in Accept-Language, else Kazakh. `LanguageMiddleware` puts it in `request.state.language`
and in a context variable, which `gettext` and friends (and the templates' `_`) read, so one
Jinja2 environment serves every language. Code outside a request (CLI, tests) uses
`use_language(code)`.

Dates, times and numbers are formatted with Babel in the request's locale; times are shown in
`DISPLAY_TIMEZONE` (naive datetimes are taken as UTC).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.dates import format_time as _babel_format_time
from babel.messages.extract import DEFAULT_KEYWORDS
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal as _babel_format_decimal
from babel.support import LazyProxy, Translations
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection

from birthreg.paths import templates_directory

#: Supported languages, in the order the language switch shows them.
LANGUAGES: Final = ("kk", "ru", "en")
DEFAULT_LANGUAGE: Final = "kk"
#: Each language's name in itself (endonyms are never translated).
LANGUAGE_NAMES: Final = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
#: The Babel/CLDR locale used to format dates and numbers in each language.
LOCALES: Final = {"kk": "kk_KZ", "ru": "ru_RU", "en": "en_GB"}
#: Where displayed times are shown. Kazakhstan has one zone, UTC+5, since 1 March 2024; tzdata's
#: Asia/Almaty reflects that (and gives the right offsets for older times too).
DISPLAY_TIMEZONE: Final = ZoneInfo("Asia/Almaty")

LOCALES_DIR: Final = Path(__file__).resolve().parent / "locales"
DOMAIN: Final = "birthreg"

COOKIE_NAME: Final = "lang"
COOKIE_MAX_AGE: Final = 365 * 24 * 60 * 60

#: Keywords for Babel's extractors (Python and Jinja2): the defaults (`_`, `gettext`, `ngettext`,
#: `pgettext`, `N_`, ...) plus ours. `pybabel extract -F babel.cfg` needs them as `-k` options.
EXTRACT_KEYWORDS: Final[dict[str, Any]] = {
    **DEFAULT_KEYWORDS,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "gettext_in": (2,),
}

_current_language: ContextVar[str] = ContextVar("birthreg_language", default=DEFAULT_LANGUAGE)


# --- catalogs ---------------------------------------------------------------------------------


@cache
def translations(language: str) -> Translations:
    """The compiled catalog of a supported language (compiled in memory once, then cached)."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language: {language!r}")
    po_path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    # Fuzzy entries are left out, as msgfmt does: a guessed translation is no translation.
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def babel_locale(language: str) -> Locale:
    """The Babel locale for formatting in a supported language."""
    return Locale.parse(LOCALES[language])


# --- the current language ---------------------------------------------------------------------


def get_language() -> str:
    """The language of the current request (or of the enclosing `use_language`)."""
    return _current_language.get()


def get_locale() -> Locale:
    """The Babel locale of the current language."""
    return babel_locale(get_language())


@contextmanager
def use_language(language: str) -> Iterator[str]:
    """Run a block in a language (for code outside a request: CLI, jobs, tests)."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language: {language!r}")
    token = _current_language.set(language)
    try:
        yield language
    finally:
        _current_language.reset(token)


def gettext(message: str) -> str:
    """message translated into the current language."""
    return translations(get_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for n, translated; format it afterwards (`% {"n": n}`)."""
    return translations(get_language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """message in a context (for the same English word with different translations)."""
    return str(translations(get_language()).pgettext(context, message))


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    """ngettext with a context."""
    return translations(get_language()).npgettext(context, singular, plural, n)


def gettext_in(language: str, message: str) -> str:
    """message translated into a given language, whatever the current one is.

    For text that must show several languages at once (the TEST banner, the bilingual certificate).
    """
    return translations(language).gettext(message)


def lazy_gettext(message: str) -> LazyProxy:
    """A string that is translated when it is used, in the language current at that moment.

    For messages defined at import time (module constants, validation messages).
    """
    return LazyProxy(gettext, message, enable_cache=False)


def lazy_ngettext(singular: str, plural: str, n: int) -> LazyProxy:
    """ngettext, translated when used."""
    return LazyProxy(ngettext, singular, plural, n, enable_cache=False)


# --- choosing the language --------------------------------------------------------------------

_LANGUAGE_RANGE = re.compile(r"^(?:\*|[a-z]{1,8}(?:-[a-z0-9]{1,8})*)$")


def supported(language: str | None) -> str | None:
    """language when it is one of LANGUAGES, else None."""
    return language if language in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The supported language that Accept-Language (RFC 9110 12.5.4) prefers most, or None.

    Ranges are matched by their primary subtag (`ru-RU` is `ru`); `q=0` means "not this one"; among
    equal weights the earlier range wins. `*` matches nothing of its own: the default applies.
    """
    if not header:
        return None
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:1000].split(",")):
        parts = [part.strip() for part in item.split(";")]
        tag = parts[0].lower()
        if not _LANGUAGE_RANGE.match(tag):
            continue
        quality = 1.0
        for parameter in parts[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag))
    for _quality, _position, tag in sorted(weighted):
        primary = tag.split("-", 1)[0]
        if primary in LANGUAGES:
            return primary
    return None


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language for a request: a valid cookie, else Accept-Language, else the default."""
    return supported(cookie) or from_accept_language(accept_language) or DEFAULT_LANGUAGE


ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


class LanguageMiddleware:
    """Chooses each request's language, for `request.state.language` and `gettext`.

    HTML responses say which language they are in (Content-Language) and that it depends on the
    cookie and Accept-Language (Vary), so that no cache serves a page in the wrong language.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        language = negotiate(
            connection.cookies.get(COOKIE_NAME), connection.headers.get("accept-language")
        )
        scope.setdefault("state", {})["language"] = language

        async def send_with_language(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Language"] = language
                    headers.add_vary_header("Accept-Language")
                    headers.add_vary_header("Cookie")
            await send(message)

        token = _current_language.set(language)
        try:
            await self.app(scope, receive, send_with_language)
        finally:
            _current_language.reset(token)


# --- formatting -------------------------------------------------------------------------------


def _as_display_time(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(DISPLAY_TIMEZONE)


def format_date(value: dt.date | dt.datetime, format: str = "medium") -> str:
    """A date in the current locale (a datetime is first moved to DISPLAY_TIMEZONE)."""
    if isinstance(value, dt.datetime):
        value = _as_display_time(value).date()
    return _babel_format_date(value, format=format, locale=get_locale())


def format_datetime(value: dt.datetime, format: str = "medium") -> str:
    """A date and time in the current locale, in DISPLAY_TIMEZONE."""
    return _babel_format_datetime(
        _as_display_time(value), format=format, tzinfo=DISPLAY_TIMEZONE, locale=get_locale()
    )


def format_time(value: dt.datetime | dt.time, format: str = "short") -> str:
    """A time of day in the current locale (a datetime is shown in DISPLAY_TIMEZONE)."""
    if isinstance(value, dt.datetime):
        return _babel_format_time(
            _as_display_time(value), format=format, tzinfo=DISPLAY_TIMEZONE, locale=get_locale()
        )
    return _babel_format_time(value, format=format, locale=get_locale())


def format_decimal(value: int | float | Decimal | str, format: str | None = None) -> str:
    """A number in the current locale, with an optional CLDR pattern (`#,##0.0`)."""
    return _babel_format_decimal(value, format=format, locale=get_locale())


def format_number(value: int | float | Decimal | str) -> str:
    """A number in the current locale with its grouping: 3 400 (kk, ru), 3,400 (en)."""
    return _babel_format_decimal(value, locale=get_locale())


# --- templates --------------------------------------------------------------------------------


@cache
def _folder_loader() -> jinja2.FileSystemLoader:
    # Asked for on first use, not at import: a CLI command without templates never needs it.
    return jinja2.FileSystemLoader(templates_directory())


class _TemplatesFolderLoader(jinja2.BaseLoader):
    """Loads from `birthreg.paths.templates_directory()`, looked up on first use."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        return _folder_loader().get_source(environment, template)

    def list_templates(self) -> list[str]:
        return _folder_loader().list_templates()


def _jinja_gettext(message: str) -> str:
    return gettext(message)


def _jinja_ngettext(singular: str, plural: str, n: int) -> str:
    return ngettext(singular, plural, n)


def _jinja_pgettext(context: str, message: str) -> str:
    return pgettext(context, message)


def _jinja_npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return npgettext(context, singular, plural, n)


def make_environment() -> jinja2.Environment:
    """The Jinja2 environment of every page: autoescaping, i18n, formatting filters."""
    environment = jinja2.Environment(
        loader=_TemplatesFolderLoader(),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # `{% trans %}` blocks collapse their whitespace, so they can be wrapped like prose;
    # babel.cfg tells the extractor the same.
    environment.policies["ext.i18n.trimmed"] = True
    # The callables read the context variable, so one environment serves every language.
    # newstyle: `_("Hello %(name)s", name=x)` formats and escapes the variables itself.
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_jinja_gettext,
        ngettext=_jinja_ngettext,
        newstyle=True,
        pgettext=_jinja_pgettext,
        npgettext=_jinja_npgettext,
    )
    formatters: dict[str, Callable[..., str]] = {
        "format_date": format_date,
        "format_datetime": format_datetime,
        "format_time": format_time,
        "format_number": format_number,
        "format_decimal": format_decimal,
    }
    environment.filters.update(formatters)
    environment.globals.update(formatters)
    environment.globals.update(
        gettext_in=gettext_in,
        languages=LANGUAGES,
        language_names=LANGUAGE_NAMES,
    )
    return environment


def _request_context(request: Request) -> dict[str, Any]:
    """What every template may use: `language`, and `current_path` (for the language switch)."""
    current_path = request.url.path
    if request.url.query:
        current_path += "?" + request.url.query
    return {
        "language": getattr(request.state, "language", None) or get_language(),
        "current_path": current_path,
    }


#: The one template renderer of the service; every domain renders through it.
templates = Jinja2Templates(env=make_environment(), context_processors=[_request_context])


# --- the language switch ----------------------------------------------------------------------

router = APIRouter(tags=["pages"], include_in_schema=False)

# Characters a browser drops or reads as "/" (tab, newline, backslash), and any other control
# character: a `next` holding one of them is refused rather than normalised.
_UNSAFE_IN_PATH = re.compile(r"[\x00-\x20\x7f\\]")


def safe_next(next_url: str | None) -> str:
    """next_url when it is a path on this site, else "/": never an open redirect.

    Refused: absolute URLs (`https://evil`), scheme-relative ones (`//evil`), backslashes
    (`/\\evil`, which browsers read as `//evil`), whitespace and control characters.
    """
    if not next_url or not next_url.startswith("/") or next_url.startswith("//"):
        return "/"
    if _UNSAFE_IN_PATH.search(next_url):
        return "/"
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc:
        return "/"
    return next_url


def _switch(request: Request, language: str, next_url: str | None) -> RedirectResponse:
    if language not in LANGUAGES:
        raise HTTPException(400, gettext("This language is not available."))
    response = RedirectResponse(safe_next(next_url), status_code=303)
    base_url: str = request.app.state.settings.base_url
    response.set_cookie(
        COOKIE_NAME,
        language,
        max_age=COOKIE_MAX_AGE,
        path="/",
        secure=base_url.lower().startswith("https://"),
        httponly=True,
        samesite="lax",
    )
    return response


# No CSRF token is required here, on purpose. The language is a display preference kept in the
# visitor's own cookie: it changes no data of the service, no account, no record. The worst a
# forged request can do is show the next page in another of the three languages, which the
# visitor undoes with one tap on the switch. Requiring a token would also break the switch on
# pages rendered before a session exists. (If a global CSRF check is added, exempt /language.)
@router.post("/language", name="set_language")
def set_language(
    request: Request,
    language: str = Form(...),
    next_url: str | None = Form(None, alias="next"),
) -> RedirectResponse:
    """Remember the display language in the `lang` cookie and go back to `next`."""
    return _switch(request, language, next_url)


# A GET that sets a cookie is normally wrong; here it is harmless for the reason above (a
# third-party link can at most switch the display language), and it lets a plain link or a QR
# code open a page in a given language.
@router.get("/language/{language}", name="switch_language")
def switch_language(
    request: Request, language: str, next_url: str | None = Query(None, alias="next")
) -> RedirectResponse:
    """Same as POST /language, for a plain link: /language/ru?next=/path."""
    return _switch(request, language, next_url)
