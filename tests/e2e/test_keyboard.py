"""Every main form with the keyboard alone, in real Chromium (issue 16): Tab reaches each field
and the submit button in turn, each showing its focus, and Enter on the button sends the form; a
form the server refuses comes back with the focus on its first field in error. One server, the
demo's data (as the layout test arranges it), one browser context per account."""

from __future__ import annotations

from typing import Any

import pytest
from e2e.test_layout import demo  # noqa: F401  (the fixture)
from e2e.test_parents_browser import CHILD, Phone, Service, service  # noqa: F401
from sqlmodel import Session, select

from birthreg.db import make_engine
from birthreg.models import Birth, Submission

pytestmark = pytest.mark.browser

#: What has the focus: its id, else its name, else its tag and text.
_ACTIVE = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return '';
    if (e.type === 'radio') return 'radio[name=' + e.name + ']';
    return e.id ? '#' + e.id : e.name ? e.tagName.toLowerCase() + '[name=' + e.name + ']'
        : e.tagName.toLowerCase() + ':' + (e.textContent || '').trim().slice(0, 40);
}"""

#: The visible controls of a form a person fills in, and its submit button, in document order (a
#: group of radio buttons once: Tab reaches the group, the arrow keys choose).
_CONTROLS = """(form) => Array.from(new Set(Array.from(form.querySelectorAll(
        'input:not([type=hidden]), select, textarea, button[type=submit]'))
    .filter(e => e.offsetParent !== null && !e.disabled)
    .map(e => e.type === 'radio' ? 'radio[name=' + e.name + ']'
        : e.id ? '#' + e.id : e.name ? e.tagName.toLowerCase() + '[name=' + e.name + ']'
        : e.tagName.toLowerCase() + ':' + (e.textContent || '').trim().slice(0, 40))))"""

_CHECKED = "() => (document.querySelector('input[name=father_basis]:checked') || {}).value"

#: Whether the focused control shows it: the page's :focus-visible ring (an outline of 2 px or
#: more, not "none").
_FOCUS_SHOWN = """() => {
    const e = document.activeElement;
    const style = getComputedStyle(e);
    return e.matches(':focus-visible') && style.outlineStyle !== 'none'
        && parseFloat(style.outlineWidth) >= 2;
}"""


def _tab_to(page: Any, target: str, limit: int = 80) -> None:
    """Press Tab until `target` (as _ACTIVE names it) has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(_ACTIVE) == target:
            assert page.evaluate(_FOCUS_SHOWN), f"{target} does not show its focus on {page.url}"
            return
    raise AssertionError(f"Tab never reached {target} on {page.url}")


def _reaches_every_control(page: Any, form: str) -> list[str]:
    """Tab from the top of the page through the form: every control, then its submit button, in
    the form's order. Returns the controls, the button last."""
    controls = page.locator(form).first.evaluate(_CONTROLS)
    assert controls, f"no controls in {form} on {page.url}"
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    for control in controls:
        _tab_to(page, control)
    return list(controls)


def _by_keyboard(page: Any, steps: list[tuple[str, list[str], str]], button: str) -> None:
    """From the top of the page: for each (control, keys to press, text to type) Tab to the
    control, press and type; then Tab to the button and send the form with Enter."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for control, keys, text in steps:
        _tab_to(page, control)
        for key in keys:
            page.keyboard.press(key)
        page.keyboard.type(text)
    _tab_to(page, button)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _log_in(context: Any, base: str, username: str, password: str) -> Any:
    """The login form by keyboard: Tab to each field, type, Tab to "Log in", Enter."""
    page = context.new_page()
    page.goto(base + "/login")
    controls = _reaches_every_control(page, "form[action='/login']")
    assert controls[:2] == ["#username", "#password"], controls
    _by_keyboard(page, [("#username", [], username), ("#password", [], password)], controls[-1])
    assert "/login" not in page.url, page.url
    return page


def _ids(base_settings: Any) -> tuple[str, str]:
    engine = make_engine(base_settings.database_url)
    try:
        with Session(engine) as session:
            recorded = session.exec(select(Birth).where(Birth.progress == "recorded")).first()
            waiting = session.exec(
                select(Submission).where(Submission.status == "received")
            ).first()
    finally:
        engine.dispose()
    assert recorded is not None and waiting is not None
    return recorded.id, waiting.id


def test_the_main_forms_work_with_the_keyboard_alone(
    demo: tuple[str, dict[str, Any], dict[str, dict[str, str]]],  # noqa: F811
    chromium: Any, live_server: Any,
) -> None:
    base, logins, paths = demo
    recorded, waiting = _ids(live_server.settings)
    record = paths["clerk"]["registry-record"]

    context = chromium.new_context(viewport={"width": 1366, "height": 800})
    try:
        page = context.new_page()
        page.goto(base + "/enroll")
        _reaches_every_control(page, "[data-testid=enroll-form]")
        page.close()

        page = _log_in(context, base, "ward", logins["ward"])
        page.goto(base + "/ward/births/new")
        _reaches_every_control(page, "form[action='/ward/births/new']")
        with page.expect_navigation():
            page.keyboard.press("Enter")  # on the button: sent, every error shown at once
        assert page.locator("[aria-invalid=true]").count() > 1
        page.goto(f"{base}/ward/births/{recorded}")
        _reaches_every_control(
            page, f"form[action='/ward/births/{recorded}/enrollments'][novalidate]"
        )
    finally:
        context.close()

    context = chromium.new_context(viewport={"width": 1366, "height": 800})
    try:
        page = _log_in(context, base, "clerk", logins["clerk"])
        page.goto(f"{base}/registry/submissions/{waiting}")
        _reaches_every_control(page, "[data-testid=reject-form]")
        register = _reaches_every_control(page, "[data-testid=register-form]")
        _by_keyboard(page, [("#confirm", ["Space"], "")], register[-1])
        assert "flash=registered" in page.url, page.url

        page.goto(base + record)
        correction = _reaches_every_control(page, "[data-testid=correction-form]")
        steps = [  # the first correctable name gets a new value
            (correction[0], ["ControlOrMeta+A"], "Айгерім"),
            ("#correction-reason", [], "Ошибка в имени при записи."),
        ]
        _by_keyboard(page, steps, correction[-1])
        assert "flash=" in page.url, page.url
    finally:
        context.close()


def test_the_parents_application_form_works_with_the_keyboard_alone(
    service: Service,  # noqa: F811
    chromium: Any,
) -> None:
    mother = Phone(chromium, "keyboard", "en")
    try:
        mother.enroll(service.enrollment_url(service.birth()))
        page = mother.page
        page.goto(service.url + "/parents/application")
        controls = _reaches_every_control(page, "[data-testid=application-form]")
        page.evaluate("() => document.activeElement.blur()")
        for control in controls[:-1]:
            if control.startswith("#") and not page.locator(control).is_visible():
                continue  # the father's fields, once "no father" is chosen
            _tab_to(page, control)
            if control == "radio[name=father_basis]":
                # Tab reaches the group; the arrow keys choose "No father on the application".
                for _ in range(4):
                    if page.evaluate(_CHECKED) == "none":
                        break
                    page.keyboard.press("ArrowDown")
            elif control.lstrip("#") in CHILD:
                page.keyboard.type(CHILD[control.lstrip("#")])
        _tab_to(page, controls[-1])
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_selector("[data-testid=sign-button]")  # reviewed: ready to sign
    finally:
        mother.close()


def _refused_then_sent(
    page: Any, form: str, wrong: list[tuple[str, list[str], str]],
    right: list[tuple[str, list[str], str]], invalid: str,
) -> None:
    """By keyboard: the `wrong` values sent, the page comes back with the focus on `invalid`
    (marked invalid, its message tied to it); then the `right` ones, and the form is sent."""
    controls = _reaches_every_control(page, form)
    _by_keyboard(page, wrong, controls[-1])
    assert page.evaluate(_ACTIVE) == invalid, (page.evaluate(_ACTIVE), page.url)
    field = page.locator(invalid)
    assert field.get_attribute("aria-invalid") == "true"
    message = page.locator("#" + str(field.get_attribute("aria-describedby")).split()[0])
    assert message.is_visible() and message.inner_text().strip()
    _by_keyboard(page, right, controls[-1])
    assert "flash=" in page.url, page.url


def test_the_copy_duplicate_and_late_forms_work_with_the_keyboard_alone(
    demo: tuple[str, dict[str, Any], dict[str, dict[str, str]]],  # noqa: F811
    chromium: Any,
) -> None:
    base, logins, paths = demo
    context = chromium.new_context(viewport={"width": 1366, "height": 800})
    try:
        page = _log_in(context, base, "clerk", logins["clerk"])
        page.goto(base + paths["clerk"]["registry-record"])
        copy = "[data-testid=copy-form]"
        assert page.locator(copy).first.evaluate(_CONTROLS)[:-1] == [
            "#collector-name", "#collector-iin", "#copy-reason", "#document-checked"
        ]
        _refused_then_sent(
            page, copy,
            wrong=[("#collector-name", [], "Айгүл Серікова"),
                   ("#collector-iin", [], "123456789012"),
                   ("#copy-reason", [], "Бірінші куәлік жоғалды."),
                   ("#document-checked", ["Space"], "")],
            right=[("#collector-iin", ["ControlOrMeta+A"], "940315400014"),
                   ("#document-checked", ["Space"], "")],
            invalid="#collector-iin",
        )  # fmt: skip
        assert "flash=copy_issued" in page.url

        page.goto(base + paths["clerk"]["registry-duplicate"])
        duplicate = "[data-testid=duplicate-form]"
        reason = page.locator(duplicate).first.evaluate(_CONTROLS)[1]
        _refused_then_sent(
            page, duplicate,
            wrong=[("radio[name=decision]", ["Space"], ""), (reason, [], "   ")],
            right=[(reason, ["ControlOrMeta+A"], "Басқа медициналық жазба, басқа салмақ.")],
            invalid=reason,
        )  # fmt: skip
        assert "flash=duplicate_decided" in page.url
    finally:
        context.close()

    context = chromium.new_context(viewport={"width": 1366, "height": 800})
    try:
        page = _log_in(context, base, "registrar", logins["registrar"])
        page.goto(base + paths["registrar"]["registry-late"])
        approve = _reaches_every_control(page, "[data-testid=approve-late-form]")
        assert len(approve) == 1 and approve[0].startswith("button:"), approve
        _by_keyboard(page, [], approve[0])
        assert "flash=late_approved" in page.url, page.url
        assert page.get_by_test_id("late-approved").is_visible()
    finally:
        context.close()
