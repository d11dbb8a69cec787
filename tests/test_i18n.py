"""Languages: complete catalogs, the language switch, negotiation, locale formatting, templates."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from starlette.requests import Request

from birthreg import i18n
from birthreg.config import Settings
from birthreg.i18n import (
    DEFAULT_LANGUAGE,
    EXTRACT_KEYWORDS,
    LANGUAGES,
    LOCALES_DIR,
    from_accept_language,
    gettext,
    gettext_in,
    lazy_gettext,
    negotiate,
    ngettext,
    safe_next,
    use_language,
)
from birthreg.main import create_app

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TRANSLATED = ("kk", "ru")  # en is the source language: its msgstr may repeat the msgid
BANNER = "TEST SERVICE — NOT FOR PRODUCTION"
#: Text that each language's home page must show (a translation from its catalog).
HOME_HEADING = {
    "kk": "Перзентханадан тууды тіркеу",
    "ru": "Регистрация рождения из родильного дома",
    "en": "Birth registration from the maternity ward",
}


def _settings(tmp_path: Path, base_url: str = "http://127.0.0.1:8000") -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'data' / 'test.sqlite3'}",
        base_url=base_url,
        env="development",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path))) as test_client:
        yield test_client


def _html_lang(html: str) -> str:
    start = html.index("<html lang=\"") + len("<html lang=\"")
    return html[start : html.index('"', start)]


# --- the catalogs -----------------------------------------------------------------------------


def _source_messages() -> dict[str, list[str]]:
    """Every msgid in templates/ and birthreg/ (per babel.cfg), with where it is used."""
    with (PROJECT_ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(  # type: ignore[no-untyped-call]
            config, "babel.cfg"
        )
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        PROJECT_ROOT, method_map, options_map, keywords=EXTRACT_KEYWORDS
    ):
        # (singular, plural) for ngettext; a context makes a different message.
        key = message[0] if isinstance(message, tuple) else message
        if context:
            key = f"{context}\x04{key}"
        found.setdefault(key, []).append(f"{filename}:{lineno}")
    return found


def _catalog(language: str) -> Catalog:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "birthreg.po").open("rb") as po_file:
        return read_po(po_file, locale=language, domain="birthreg")


def _catalog_key(message_id: str | Sequence[str], context: str | None) -> str:
    key = message_id if isinstance(message_id, str) else message_id[0]
    return f"{context}\x04{key}" if context else key


def test_extraction_finds_templates_and_code() -> None:
    found = _source_messages()
    assert any(where.startswith("templates/base.html") for where in found[BANNER])
    assert "This language is not available." in found  # birthreg/i18n.py, through gettext()
    for template in ("base.html", "home.html", "error.html"):
        assert any(
            where.startswith(f"templates/{template}")
            for wheres in found.values()
            for where in wheres
        ), template


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(language: str) -> None:
    """A string written in a template or in code, but missing here, fails this test.

    To fix: add the msgid to birthreg/locales/<lang>/LC_MESSAGES/birthreg.po with its Kazakh,
    Russian and (identical) English text. The failure lists what to add.
    """
    found = _source_messages()
    catalog = _catalog(language)
    entries = {
        _catalog_key(message.id, message.context): message for message in catalog if message.id
    }
    problems = []
    for key, wheres in sorted(found.items()):
        message = entries.get(key)
        if message is None:
            problems.append(f"missing: {key!r} (used in {', '.join(wheres)})")
        elif language in TRANSLATED and message.fuzzy:
            problems.append(f"fuzzy (not used until checked): {key!r}")
        elif language in TRANSLATED and (
            not message.string
            or (isinstance(message.string, tuple) and not all(message.string))
        ):
            problems.append(f"untranslated: {key!r}")
    assert not problems, f"birthreg/locales/{language}/LC_MESSAGES/birthreg.po:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogs_hold_no_stale_messages(language: str) -> None:
    """A string removed from the source is removed from the catalogs too."""
    found = _source_messages()
    stale = [
        _catalog_key(message.id, message.context)
        for message in _catalog(language)
        if message.id and _catalog_key(message.id, message.context) not in found
    ]
    assert not stale, f"no longer used, delete them from {language}/birthreg.po: {stale}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_placeholders_match(language: str) -> None:
    """`%(status)s` in a msgid is in its translation too (Babel's python-format check)."""
    catalog = _catalog(language)
    errors = [(message.id, [str(error) for error in errs]) for message, errs in catalog.check()]
    assert not errors
    assert catalog.plural_forms == {
        "kk": "nplurals=2; plural=(n != 1);",
        "en": "nplurals=2; plural=(n != 1);",
        "ru": (
            "nplurals=3; plural=n % 10 == 1 && n % 100 != 11 ? 0 : n % 10 >= 2 && n % 10 <= 4 "
            "&& (n % 100 < 12 || n % 100 > 14) ? 1 : 2;"
        ),
    }[language]



@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogs_define_each_message_once(language: str) -> None:
    """Two entries for one msgid (a merge keeps both sides) make `msgfmt -c` fail, and Babel
    silently keeps the last: one of the two translations is lost without a word."""
    text = (i18n.LOCALES_DIR / language / "LC_MESSAGES" / "birthreg.po").read_text("utf-8")
    keys: dict[str, int] = {}
    for entry in re.split(r"\n\s*\n", text):
        lines = [line for line in entry.splitlines() if not line.startswith("#")]
        ends = [i for i, line in enumerate(lines) if line.startswith("msgstr")]
        key = "\n".join(lines[: ends[0] if ends else len(lines)])  # msgctxt and msgid
        if "msgid" in key:
            keys[key] = keys.get(key, 0) + 1
    assert not [key for key, count in keys.items() if count > 1]

def test_no_compiled_catalogs_in_the_tree() -> None:
    assert not list(LOCALES_DIR.rglob("*.mo"))


#: Words that are the same in every language: the product's name and the TEST mark next to it.
SAME_IN_EVERY_LANGUAGE = {"birthreg", "TEST"}
#: Attributes whose value a person reads (or hears from a screen reader).
VISIBLE_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "aria-description", "label"}
_LETTER = re.compile(r"[^\W\d_]")


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        values = dict(attrs)
        for name, value in attrs:
            if value and (
                name in VISIBLE_ATTRIBUTES
                or (name == "value" and values.get("type") in ("submit", "button", "reset"))
            ):
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.texts.append(data)


def _literal_text(source: str) -> list[str]:
    """The text a template shows that is written in it, not computed or inside {% trans %}."""
    env = i18n.templates.env
    pieces: list[str] = []
    in_trans = False
    in_comment = False
    previous = ""
    for _lineno, kind, value in env.lex(source):
        if kind == "comment_begin":
            in_comment = True
        elif kind == "comment_end":
            in_comment = False
        elif in_comment:
            pass
        elif kind == "name" and previous == "block_begin" and value in ("trans", "endtrans"):
            in_trans = value == "trans"
        elif kind == "data":
            if not in_trans:
                pieces.append(value)
        elif kind in ("variable_begin", "block_begin"):
            pieces.append("\x00")  # something computed: a placeholder that is not a letter
        if kind != "whitespace":
            previous = kind
    parser = _VisibleText()
    parser.feed("".join(pieces))
    parser.close()
    words = []
    for text in parser.texts:
        for word in text.replace("\x00", " ").split():
            if _LETTER.search(word) and word.strip(".,:;·()") not in SAME_IN_EVERY_LANGUAGE:
                words.append(word)
    return words


def test_templates_hard_code_no_text() -> None:
    """Text a person reads goes through `_()` or `{% trans %}`, in every template."""
    templates_dir = PROJECT_ROOT / "templates"
    problems = {}
    for path in sorted(templates_dir.rglob("*.html")):
        words = _literal_text(path.read_text(encoding="utf-8"))
        if words:
            problems[str(path.relative_to(PROJECT_ROOT))] = words
    assert not problems, f"text outside _() or {{% trans %}}: {problems}"


def test_the_hard_coded_text_check_works() -> None:
    html = '<p>{{ _("Fine") }} {{ x }}</p><p title="Oops">Hello <b>there</b></p>'
    assert _literal_text(html) == ["Oops", "Hello", "there"]
    assert _literal_text(
        '{% trans %}Fine{% endtrans %}{# a comment #}<input type="submit" value="Send">'
        '<input type="hidden" name="next" value="/x"><a class="brand">birthreg TEST</a>'
    ) == ["Send"]


# --- gettext from Python ----------------------------------------------------------------------


def test_gettext_follows_the_current_language() -> None:
    assert i18n.get_language() == DEFAULT_LANGUAGE == "kk"
    with use_language("ru"):
        assert gettext("This language is not available.") == "Этот язык недоступен."
        with use_language("en"):
            assert gettext("This language is not available.") == "This language is not available."
        assert i18n.get_language() == "ru"
    assert gettext("This language is not available.") == "Бұл тіл қолжетімді емес."
    # Not in the catalog: the English text, never an error.
    assert gettext("No such message") == "No such message"
    with use_language("ru"):
        assert ngettext("%(n)d birth", "%(n)d births", 5) % {"n": 5} == "5 births"
    with pytest.raises(ValueError), use_language("de"):
        pass


def test_lazy_gettext_translates_when_used() -> None:
    message = lazy_gettext("This language is not available.")
    with use_language("ru"):
        assert str(message) == "Этот язык недоступен."
    with use_language("en"):
        assert str(message) == "This language is not available."


def test_gettext_in_ignores_the_current_language() -> None:
    with use_language("en"):
        assert gettext_in("kk", BANNER) == "СЫНАҚ ҚЫЗМЕТІ — НАҚТЫ ПАЙДАЛАНУҒА АРНАЛМАҒАН"
        assert gettext_in("ru", BANNER) == "ТЕСТОВЫЙ СЕРВИС — НЕ ДЛЯ РЕАЛЬНОГО ИСПОЛЬЗОВАНИЯ"


# --- negotiation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("kk-KZ", "kk"),
        ("EN-gb", "en"),
        ("de-DE,de;q=0.9,en;q=0.5", "en"),
        ("de, fr", None),
        ("*", None),
        ("en;q=0.2, ru;q=0.8", "ru"),
        ("en;q=0, ru;q=0.1", "ru"),
        ("en, ru", "en"),
        ("en;q=bad, ru;q=0.5", "ru"),
        ("<script>, ru", "ru"),
    ],
)
def test_accept_language(header: str | None, expected: str | None) -> None:
    assert from_accept_language(header) == expected


def test_negotiate_prefers_a_valid_cookie() -> None:
    assert negotiate("en", "ru") == "en"
    assert negotiate("de", "ru") == "ru"
    assert negotiate("", None) == "kk"
    assert negotiate(None, "fr") == "kk"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "http://evil.example",
        "//evil.example",
        "//evil.example/path",
        "\\\\evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        " //evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
        None,
    ],
)
def test_safe_next_refuses_other_sites(next_url: str | None) -> None:
    assert safe_next(next_url) == "/"


@pytest.mark.parametrize("next_url", ["/", "/ward/births", "/ward/births?day=2026-11-27&page=2"])
def test_safe_next_keeps_local_paths(next_url: str) -> None:
    assert safe_next(next_url) == next_url


# --- the switch over HTTP ---------------------------------------------------------------------


def test_default_language_is_kazakh(client: TestClient) -> None:
    response = client.get("/")
    assert _html_lang(response.text) == "kk"
    assert HOME_HEADING["kk"] in response.text
    assert response.headers["content-language"] == "kk"
    assert "Accept-Language" in response.headers["vary"]
    assert "Cookie" in response.headers["vary"]


def test_accept_language_chooses_the_page_language(client: TestClient) -> None:
    response = client.get("/", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"})
    assert _html_lang(response.text) == "ru"
    assert HOME_HEADING["ru"] in response.text
    response = client.get("/", headers={"Accept-Language": "de-DE,en;q=0.5"})
    assert _html_lang(response.text) == "en"
    response = client.get("/", headers={"Accept-Language": "de-DE"})
    assert _html_lang(response.text) == "kk"


def test_switch_persists_across_requests(client: TestClient) -> None:
    response = client.post(
        "/language", data={"language": "ru", "next": "/?from=switch"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?from=switch"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("lang=ru;")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Max-Age=31536000" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # the base URL is http

    # The cookie wins over Accept-Language, on every later request.
    for _ in range(2):
        page = client.get("/", headers={"Accept-Language": "en"})
        assert _html_lang(page.text) == "ru"
        assert HOME_HEADING["ru"] in page.text

    client.post("/language", data={"language": "en", "next": "/"}, follow_redirects=False)
    assert _html_lang(client.get("/").text) == "en"


def test_switch_by_link(client: TestClient) -> None:
    response = client.get("/language/en?next=/healthz", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/healthz"
    assert response.headers["set-cookie"].startswith("lang=en;")
    assert _html_lang(client.get("/").text) == "en"


def test_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, base_url="https://ward.example.kz"))
    with TestClient(app) as client:
        response = client.post("/language", data={"language": "kk"}, follow_redirects=False)
    assert "Secure" in response.headers["set-cookie"]
    assert response.headers["location"] == "/"


def test_unknown_cookie_is_ignored(client: TestClient) -> None:
    client.cookies.set("lang", "de")
    response = client.get("/", headers={"Accept-Language": "ru"})
    assert _html_lang(response.text) == "ru"
    client.cookies.set("lang", "<script>")
    assert _html_lang(client.get("/").text) == "kk"


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example", "\\\\evil.example", "/\\evil.example"]
)
def test_switch_refuses_open_redirects(client: TestClient, next_url: str) -> None:
    response = client.post(
        "/language", data={"language": "en", "next": next_url}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    link = client.get("/language/en", params={"next": next_url}, follow_redirects=False)
    assert link.headers["location"] == "/"


def test_unknown_language_is_refused(client: TestClient) -> None:
    client.cookies.set("lang", "ru")
    response = client.post(
        "/language", data={"language": "de", "next": "/"},
        headers={"Accept": "text/html"}, follow_redirects=False,
    )
    assert response.status_code == 400
    assert "set-cookie" not in response.headers
    assert "Этот язык недоступен." in response.text
    api = client.post("/language", data={"language": "xx"}, follow_redirects=False)
    assert api.status_code == 400
    assert api.json() == {"error": "bad_request", "detail": "Этот язык недоступен."}


# --- pages in every language ------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_render_in_every_language(client: TestClient, language: str) -> None:
    client.cookies.set("lang", language)
    home = client.get("/")
    missing = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert home.status_code == 200
    assert missing.status_code == 404
    for page in (home, missing):
        html = page.text
        assert _html_lang(html) == language
        assert 'name="viewport"' in html
        assert "<script" not in html and "style=" not in html and "<style" not in html
        # The banner: the page's language first, then the others, English always among them.
        banner = html[html.index('data-testid="test-banner"') : html.index("</div>")]
        own = gettext_in(language, BANNER)
        assert banner.index(own) < min(
            banner.index(gettext_in(other, BANNER)) for other in LANGUAGES if other != language
        )
        assert BANNER in banner
        # The language switch posts to /language with this page as `next`, current one pressed.
        assert 'action="/language"' in html
        assert f'value="{language}" lang="{language}"' in html
        assert html.count('aria-pressed="true"') == 1
    assert HOME_HEADING[language] in home.text
    assert 'name="next" value="/"' in home.text
    assert 'name="next" value="/no-such-page"' in missing.text
    with use_language(language):
        assert gettext("This page does not exist.") in missing.text
        assert gettext("Error %(status)s") % {"status": 404} in missing.text


def test_error_page_shows_status_and_detail(client: TestClient) -> None:
    client.cookies.set("lang", "ru")
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert "Такой страницы нет." in response.text
    assert "Ошибка 404" in response.text
    # Starlette's English "Not Found" says nothing the translated heading does not.
    assert "Not Found" not in response.text
    assert "<code>not_found</code>" in response.text
    assert 'href="/" data-testid="error-back"' in response.text
    # Within the ward, the way back leads to the births; a service's detail sits in a fold.
    ward = client.get("/ward/births/x/nothing", headers={"Accept": "text/html"})
    assert ward.status_code == 404 and 'href="/ward" data-testid="error-back"' in ward.text


def _request(path: str = "/", query: str = "") -> Request:
    return Request({
        "type": "http", "method": "GET", "path": path, "query_string": query.encode(),
        "headers": [], "scheme": "http", "server": ("testserver", 80), "root_path": "",
        "state": {}, "app": None, "router": None,
    })


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("base.html", {}),
        ("home.html", {}),
        ("error.html", {"status": 429, "code": "too_many_requests", "detail": "x"}),
        ("error.html", {"status": 418, "code": "", "detail": ""}),
    ],
)
def test_templates_render_directly(
    template: str, context: dict[str, object], language: str
) -> None:
    """Every template of this module renders in every language, outside the HTTP stack too."""
    with use_language(language):
        html = i18n.templates.get_template(template).render(
            request=_request("/ward", "a=1&b=2"),
            url_for=lambda name, **params: f"/static/{params.get('path', '')}",
            language=language,
            current_path="/ward?a=1&b=2",
            flashes=[("ok", "Saved."), ("error", "Not saved.")],
            **context,
        )
    assert f'<html lang="{language}">' in html
    assert 'name="next" value="/ward?a=1&amp;b=2"' in html
    assert '<div class="flash ok" role="status">Saved.</div>' in html
    assert '<div class="flash error" role="alert">Not saved.</div>' in html
    if template == "error.html" and context["status"] == 418:
        with use_language(language):
            assert gettext("Something went wrong") in html
