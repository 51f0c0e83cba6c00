"""Named keys (scope:name:key) and the review scope."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from feedback_api.auth.keys import Scope, principal_for
from feedback_api.config import ApiKey, Settings


def _settings(keys: str) -> Settings:
    return Settings(api_keys=keys, _env_file=None)  # type: ignore[call-arg]


def test_named_and_unnamed_keys() -> None:
    settings = _settings("review:alice:alice-key-0123456789,read:read-key-0123456789")
    assert settings.api_keys == [
        ApiKey("review", "alice-key-0123456789", "alice"),
        ApiKey("read", "read-key-0123456789", None),
    ]
    alice = principal_for(settings, "alice-key-0123456789")
    assert alice is not None and alice.scope is Scope.REVIEW and alice.reviewer == "alice"
    reader = principal_for(settings, "read-key-0123456789")
    assert reader is not None and reader.reviewer.startswith("key:")
    assert "read-key" not in reader.reviewer


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("reviewer:bob:bob-key-0123456789", "unknown scope 'reviewer'"),
        ("review:bob:short", "too short"),
        ("review", "scope:key or scope:name:key"),
    ],
)
def test_bad_keys_say_what_is_wrong(keys: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _settings(keys)
    assert message in str(caught.value)


def test_a_key_with_a_colon_that_is_no_name_stays_whole() -> None:
    # "a b" is not a name (a space): the key is everything after the scope.
    [key] = _settings("read:a b:read-key-0123456789").api_keys
    assert key == ApiKey("read", "a b:read-key-0123456789", None)
