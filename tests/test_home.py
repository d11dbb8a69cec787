"""The home page leads each kind of visitor on (issue 16): parents to /enroll, anyone holding a
certificate to /verify, staff to the sign-in; /verify has a scanner and a paste box."""

from __future__ import annotations

from fastapi.testclient import TestClient

HTML = {"Accept": "text/html"}


def test_the_home_page_has_a_door_for_everyone(client: TestClient) -> None:
    page = client.get("/", headers=HTML)
    assert page.status_code == 200
    for target in ("/enroll", "/verify", "/login"):
        assert f'href="{target}"' in page.text, target
        assert client.get(target, headers=HTML).status_code == 200, target


def test_verify_offers_the_camera_and_a_paste_box(client: TestClient) -> None:
    page = client.get("/verify", headers=HTML)
    assert 'data-testid="scan-start"' in page.text and 'data-testid="paste-text"' in page.text
    assert "/static/vendor/jsqr/jsQR.js" in page.text
    shipped = client.get("/static/vendor/jsqr/jsQR.js")
    assert shipped.status_code == 200 and "jsQR" in shipped.text
    assert client.get("/static/vendor/jsqr/LICENSE").status_code == 200
