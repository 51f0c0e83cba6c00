"""Redaction measured on a labelled corpus, and its rules: placeholders, JSON, settings."""

from __future__ import annotations

import json
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from feedback_api.config import Settings
from feedback_api.privacy.redaction.entities import (
    KNOWN_ENTITIES,
    PATTERN_ENTITIES,
    RedactionConfig,
)
from feedback_api.privacy.redaction.redactor import Redactor, redactor_for

CORPUS = [json.loads(line) for line in Path(__file__).with_name("corpus.jsonl").open()]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return redactor_for(RedactionConfig())


def test_the_corpus_is_large_enough_and_has_every_pattern_type() -> None:
    assert len(CORPUS) >= 300
    kinds = Counter(e["type"] for line in CORPUS for e in line["entities"])
    assert set(kinds) == set(PATTERN_ENTITIES)
    assert min(kinds.values()) >= 20
    assert sum(1 for line in CORPUS if not line["entities"]) >= 100


def test_recall_of_every_pattern_type_and_clean_texts_left_as_they_were(
    redactor: Redactor,
) -> None:
    found: Counter[str] = Counter()
    labelled: Counter[str] = Counter()
    clean = unchanged = 0
    for line in CORPUS:
        out = redactor.example().text(line["text"])
        assert out is not None
        if not line["entities"]:
            clean += 1
            unchanged += out == line["text"]
        for entity in line["entities"]:
            labelled[entity["type"]] += 1
            # Gone, and replaced by a placeholder of its type.
            found[entity["type"]] += entity["value"] not in out and f"<{entity['type']}_" in out
    recall = {kind: found[kind] / labelled[kind] for kind in labelled}
    assert all(value >= 0.95 for value in recall.values()), recall
    assert unchanged / clean >= 0.98, (unchanged, clean)


def test_the_same_value_gets_the_same_placeholder_across_an_examples_texts(
    redactor: Redactor,
) -> None:
    example = redactor.example()
    question = example.text("Write to ana@example.org and bo@example.org, or call +1 212 555 0187")
    answer = example.text("Sure: I wrote to ana@example.org.")
    assert question == "Write to <EMAIL_1> and <EMAIL_2>, or call <PHONE_1>"
    assert answer == "Sure: I wrote to <EMAIL_1>."
    assert example.found == {"EMAIL": 3, "PHONE": 1}
    # Another example numbers from 1 again.
    assert redactor.example().text("bo@example.org") == "<EMAIL_1>"


def test_json_values_have_their_strings_redacted_and_their_keys_kept(redactor: Redactor) -> None:
    value: Any = {
        "system_prompt": "Escalate to ops@example.com",
        "ana@example.org": [1, "ana@example.org", {"ip": "10.1.2.3"}],
        "n": 3,
        "none": None,
    }
    assert redactor.example().value(value) == {
        "system_prompt": "Escalate to <EMAIL_1>",
        "ana@example.org": [1, "<EMAIL_2>", {"ip": "<IP_ADDRESS_1>"}],
        "n": 3,
        "none": None,
    }


def test_a_url_with_a_password_goes_whole_not_as_an_email() -> None:
    redactor = redactor_for(RedactionConfig())
    text = redactor.example().text("DATABASE_URL=postgres://app:hunter2@db.example.com:5432/app")
    assert text == "DATABASE_URL=<CREDENTIALS_URL_1>/app"


def test_only_the_entities_asked_for() -> None:
    only_mail = Redactor(RedactionConfig(entities=("EMAIL",)))
    text = "ana@example.org, +1 212 555 0187, 10.1.2.3"
    assert only_mail.example().text(text) == "<EMAIL_1>, +1 212 555 0187, 10.1.2.3"


def test_works_without_a_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No model download, no suffix list fetched: a server without network redacts."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    redactor = Redactor(RedactionConfig(phone_regions=("DE",)))
    assert redactor.example().text("mail ana@example.co.uk") == "mail <EMAIL_1>"
    assert "PERSON" not in redactor.entities  # no spaCy model installed here


def test_an_unknown_entity_fails_at_start_up_with_the_known_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(redact_entities="EMAIL,PASSPORT", _env_file=None)  # type: ignore[call-arg]
    message = str(caught.value)
    assert "'PASSPORT'" in message and all(name in message for name in KNOWN_ENTITIES)
    with pytest.raises(ValidationError, match="ISO 3166"):
        Settings(redact_phone_regions="US,ZZ", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not installed"):
        Settings(redact_spacy_model="xx_no_such_model", _env_file=None)  # type: ignore[call-arg]
    settings = Settings(redact_entities="email, iban", _env_file=None)  # type: ignore[call-arg]
    assert settings.redaction.entities == ("EMAIL", "IBAN")
