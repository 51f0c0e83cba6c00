"""What makes redaction cheap must not change what it finds: the marks let every labelled
value through, the phone recognizer and the scores are Presidio's, a batch's repeated
texts come out as if each row were redacted alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from presidio_analyzer import AnalyzerEngine, RecognizerResult
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from feedback_api.privacy.redaction.entities import DEFAULT_PHONE_REGIONS, RedactionConfig
from feedback_api.privacy.redaction.marks import marked_entities
from feedback_api.privacy.redaction.recognizers import RegionalPhoneRecognizer
from feedback_api.privacy.redaction.redactor import (
    MIN_SCORE,
    Redactor,
    redact_rows,
    redactor_for,
)

CORPUS = [json.loads(line) for line in Path(__file__).with_name("corpus.jsonl").open()]

# Numbers written every way the matcher has a rule for: dates, times, pages, extensions,
# two numbers in a row, letters around, international and national forms.
PHONE_TEXTS = [
    "call +1 212 555 0187 or (212) 555-0188, ext. 12",
    "Tel. 030 1234567 / 030 7654321",
    "+33 1 42 68 53 00+44 20 7946 0958",
    "abc8005001234 and 8005001234def and 800-500-1234",
    "on 2024-01-02 10:00:00 ticket 2024-01-02 08:00",
    "pages 211-227 (2003), due 3/10/2011, 31/10/96",
    "+91 98765 43210 - 12345 - 332-445-1234 is mine",
    "020 7946 0958. 0151 23450100.",
    "2147483647 1700000000 4111 1111 1111 1111",
]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return redactor_for(RedactionConfig())


def test_every_labelled_value_bears_the_mark_of_its_type() -> None:
    for line in CORPUS:
        marked = marked_entities(line["text"])
        for entity in line["entities"]:
            assert entity["type"] in marked, line


@pytest.mark.parametrize(
    ("text", "marked"),
    [
        ("Block 10.1.2.3 in nginx", {"IP_ADDRESS"}),
        ("upgrade to 3.12.1 or 3.13", set()),
        ("listen on [fe80::1ff:fe23:4567:890a]", {"IP_ADDRESS"}),
        ("mapped ::ffff:10.1.2.3", {"IP_ADDRESS"}),
        ("at 2026-11-02T10:00:00, order 48213", set()),
        ("call 0151 2345 0100 on 2026-11-02", {"PHONE", "CREDIT_CARD", "IBAN"}),
        ("key AKIAIOSFODNN7EXAMPLE", {"AWS_ACCESS_KEY"}),
        ("token github_pat_11ABCDEFGabcdefghijklmnop", {"GITHUB_TOKEN"}),
        ("send to ana@example.org", {"EMAIL", "CREDENTIALS_URL"}),
    ],
)
def test_marks(text: str, marked: set[str]) -> None:
    assert marked_entities(text) == marked


def test_the_phone_recognizer_finds_what_presidios_finds() -> None:
    ours = RegionalPhoneRecognizer(
        supported_entity="PHONE", supported_regions=DEFAULT_PHONE_REGIONS
    )
    presidio = PhoneRecognizer(supported_entity="PHONE", supported_regions=DEFAULT_PHONE_REGIONS)
    found = 0
    for text in [line["text"] for line in CORPUS] + PHONE_TEXTS:
        expected = sorted((r.start, r.end, r.score) for r in presidio.analyze(text, ["PHONE"]))
        assert sorted((r.start, r.end, r.score) for r in ours.analyze(text, ["PHONE"])) == expected
        found += len(expected)
    assert found >= 40


def test_two_values_of_one_type_a_space_apart_get_a_placeholder_each(redactor: Redactor) -> None:
    example = redactor.example()
    assert example.text("ana@example.org bo@example.org") == "<EMAIL_1> <EMAIL_2>"
    assert example.text("10.1.2.3 10.1.2.3 ana@example.org") == (
        "<IP_ADDRESS_1> <IP_ADDRESS_1> <EMAIL_1>"
    )


def test_a_batch_comes_out_as_its_rows_redacted_one_by_one(redactor: Redactor) -> None:
    prompt = "You are the help desk of ACME; escalate to ops@example.com or +1 212 555 0187."
    rows = [
        (prompt, "My card 4111 1111 1111 1111 was declined.", "Call +1 212 555 0188"),
        (prompt, "How do I reverse a list?", "Use reversed()."),
        (None, "My card 4111 1111 1111 1111 was declined.", "Write to ops@example.com"),
        (None, "How do I reverse a list?", "Use reversed()."),
    ]
    expected = []
    for row in rows:
        example = redactor.example()
        expected.append(tuple(example.text(text) for text in row))
    assert [tuple(row) for row in redact_rows(redactor, rows, (0, 1, 2))] == expected
    assert expected[0] == (
        "You are the help desk of ACME; escalate to <EMAIL_1> or <PHONE_1>.",
        "My card <CREDIT_CARD_1> was declined.",
        "Call <PHONE_2>",
    )
    assert expected[2][2] == "Write to <EMAIL_1>"


def test_scores_without_a_language_model_are_the_recognizers_as_with_presidios_enhancer(
    redactor: Redactor,
) -> None:
    presidio = AnalyzerEngine(
        registry=redactor.analyzer.registry,
        nlp_engine=redactor.analyzer.nlp_engine,
        supported_languages=["en"],
        default_score_threshold=MIN_SCORE,
    )
    for text in [line["text"] for line in CORPUS] + PHONE_TEXTS:
        ours = redactor.analyzer.analyze(text=text, language="en")
        theirs = presidio.analyze(text=text, language="en")
        assert sorted(map(_key, ours)) == sorted(map(_key, theirs)), text


def _key(result: RecognizerResult) -> tuple[int, int, str, float]:
    return (result.start, result.end, result.entity_type, result.score)
