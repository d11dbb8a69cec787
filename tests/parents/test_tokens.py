"""The parents' itsdangerous tokens: the sign-in challenge, the session and the father's
invitation; each lives as long as it should and passes for nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from birthreg import tokens
from birthreg.config import Settings
from birthreg.models import ApplicationState, ParentApplication
from birthreg.parents import service, sessions

MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        base_url="http://testserver",
        secret_key=SecretStr("q8W1nS0vLk3ZrT7yPb2XcM9d"),
        _env_file=None,  # type: ignore[call-arg]
    )


def test_a_challenge_lives_five_minutes(settings: Settings) -> None:
    challenge = sessions.new_challenge(settings, MOMENT)
    nonce = challenge["nonce"]
    assert challenge["issued_at"] == "2026-06-01T12:00:00Z"
    assert sessions.check_challenge(settings, challenge, nonce, MOMENT) == nonce
    late = MOMENT + sessions.CHALLENGE_LIFETIME
    assert sessions.check_challenge(settings, challenge, nonce, late) == nonce
    with pytest.raises(sessions.ParentsError) as expired:
        sessions.check_challenge(settings, challenge, nonce, late + timedelta(seconds=1))
    assert (expired.value.code, expired.value.status) == ("challenge_expired", 410)


@pytest.mark.parametrize(
    "change",
    [
        {"issued_at": "2026-06-01T12:00:01Z"},  # does not match the signed time
        {"nonce": "not-a-token"},
        {"audience": "http://evil.example"},
        {"purpose": "something-else"},
    ],
)
def test_a_changed_challenge_is_refused(settings: Settings, change: dict[str, str]) -> None:
    challenge = {**sessions.new_challenge(settings, MOMENT), **change}
    with pytest.raises(sessions.ParentsError) as refused:
        sessions.check_challenge(settings, challenge, challenge["nonce"], MOMENT)
    assert refused.value.code == "invalid_challenge"


def test_other_tokens_are_no_challenge(settings: Settings) -> None:
    session_token, _ = sessions.issue_session_token(settings, "0abc", MOMENT)
    for other in (
        session_token,
        tokens.sign(settings, tokens.Purpose.LOGIN_CSRF, "nonce", moment=MOMENT),
        tokens.sign(settings, tokens.Purpose.STAFF_CSRF, "nonce", moment=MOMENT),
    ):
        challenge = {**sessions.new_challenge(settings, MOMENT), "nonce": other}
        with pytest.raises(sessions.ParentsError) as refused:
            sessions.check_challenge(settings, challenge, other, MOMENT)
        assert refused.value.code == "invalid_challenge"


def test_a_session_lives_thirty_minutes(settings: Settings) -> None:
    token, claims = sessions.issue_session_token(settings, "0abc", MOMENT)
    read = sessions.read_session_token(settings, token, MOMENT + timedelta(minutes=29))
    assert read == claims
    assert read.exp == int((MOMENT + timedelta(minutes=30)).timestamp())
    assert sessions.read_session_token(settings, token, MOMENT + timedelta(minutes=31)) is None
    challenge_nonce = sessions.new_challenge(settings, MOMENT)["nonce"]
    assert sessions.read_session_token(settings, challenge_nonce, MOMENT) is None
    for garbage in (None, "", "x.y", "x.y.z", "A" * 5000):
        assert sessions.read_session_token(settings, garbage, MOMENT) is None


def test_an_invitation_names_its_application_and_salt(settings: Settings) -> None:
    application = ParentApplication(
        id="0b8f3c1e-2f9d-4d55-9a55-3f0f0e2b8c11",
        birth_id="b",
        state=ApplicationState.AWAITING_FATHER.value,
        document="{}",
        created_by_serial="0abc",
        invitation_salt="5" * 32,
        created_at=MOMENT,
        updated_at=MOMENT,
    )
    token = service.invitation_token(settings, application)
    assert token is not None and len(token) <= 200
    # The same on every page (signed at the application's creation), and a token.
    assert service.invitation_token(settings, application) == token
    signed = tokens.unsign(settings, tokens.Purpose.PARENT_INVITATION, token, max_age=None)
    assert signed.payload == [application.id, "5" * 32]
    # Not a session, not a challenge.
    assert sessions.read_session_token(settings, token, MOMENT) is None
    application.invitation_salt = None
    assert service.invitation_token(settings, application) is None
