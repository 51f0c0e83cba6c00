"""Redaction of personal data with Presidio: typed placeholders, the same per value.

One `Redactor` per process and configuration (`redactor_for`): building Presidio's engines
costs a few hundred milliseconds, analysing a text a fraction of one. Texts that cannot hold
anything a pattern finds (no digits in a row, no `@`, no key prefix, ...) skip Presidio
entirely: most texts of a chat are such, and a dataset is written at the speed of the others.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngine, NoOpNlpEngine, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig

from feedback_api.privacy.redaction.entities import (
    MODEL_ENTITIES,
    PATTERN_ENTITIES,
    RedactionConfig,
    RedactionTally,
)
from feedback_api.privacy.redaction.recognizers import pattern_recognizers

logger = logging.getLogger(__name__)

# Below this score a finding is left alone (Presidio's IPv6 `::` alone scores 0.1).
MIN_SCORE = 0.35

# What each pattern entity cannot be without: seven digits close together (phones, cards,
# IBANs), an IPv4 or IPv6 shape, `@`, a secret's prefix. A text is analysed for the
# entities whose mark it bears (one pass of one expression), and left as it is without
# asking Presidio when it bears none: most texts of a chat bear none.
_MARKS = {
    "digits": r"\d(?:[\s().+/-]{0,3}\d){6}",
    "ip": r"\d\.\d{1,3}\.\d|::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:",
    "at": r"@",
    "sk": r"sk-",
    "aws": r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T)",
    "github": r"\bgh[pousr]_|github_pat_",
    "jwt": r"eyJ",
    "pem": r"-----BEGIN",
}
_DATES = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\b")
_ANY_MARK = re.compile("|".join(_MARKS.values()))
_MARK = {name: re.compile(mark).search for name, mark in _MARKS.items()}
_ENTITIES_OF_MARK = {
    "digits": ("PHONE", "CREDIT_CARD", "IBAN"),
    "ip": ("IP_ADDRESS",),
    "at": ("EMAIL", "CREDENTIALS_URL"),
    "sk": ("API_KEY",),
    "aws": ("AWS_ACCESS_KEY",),
    "github": ("GITHUB_TOKEN",),
    "jwt": ("JWT",),
    "pem": ("PRIVATE_KEY",),
}


def marked_entities(text: str) -> set[str]:
    """The pattern entities `text` may hold (a superset: Presidio decides)."""
    if _ANY_MARK.search(text) is None:  # most texts: one pass
        return set()
    # ISO dates and times are no phone, card or account number: their digits do not count.
    dateless = _DATES.sub(" ", text)
    return {
        e for mark, search in _MARK.items() if search(dateless) for e in _ENTITIES_OF_MARK[mark]
    }


@dataclass
class ExampleRedaction:
    """The redaction of one example: each value found gets one placeholder, numbered per
    type in the order found, wherever it recurs in the example's texts."""

    redactor: Redactor
    placeholders: dict[tuple[str, str], str] = field(default_factory=dict)
    found: Counter[str] = field(default_factory=Counter)

    def text(self, value: str | None) -> str | None:
        if not value:
            return value
        return self.redactor.redact(value, self)

    def value(self, value: Any) -> Any:
        """A JSON value with every string in it redacted (keys are left as they are)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value

    def placeholder(self, entity: str, original: str) -> str:
        key = (entity, original)
        name = self.placeholders.get(key)
        if name is None:
            number = sum(1 for kind, _ in self.placeholders if kind == entity) + 1
            name = self.placeholders[key] = f"<{entity}_{number}>"
        self.found[entity] += 1
        return name


class Redactor:
    def __init__(self, config: RedactionConfig) -> None:
        entities = tuple(e for e in config.entities if e in PATTERN_ENTITIES)
        recognizers = pattern_recognizers(entities, config.phone_regions)
        nlp: NlpEngine
        model_entities = [e for e in config.entities if e in MODEL_ENTITIES]
        if config.spacy_model and model_entities:
            nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": config.spacy_model}])
            recognizers.append(SpacyRecognizer(supported_entities=model_entities))
            entities += tuple(model_entities)
        else:
            # No language model: tokens and named entities are not needed by any pattern.
            nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
        registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp,
            supported_languages=["en"],
            default_score_threshold=MIN_SCORE,
        )
        self.anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
        self.entities = entities
        # With a model, a name can be in any text: every text is analysed for them.
        self.always = [e for e in entities if e in MODEL_ENTITIES]
        self._patterns = {e for e in entities if e in PATTERN_ENTITIES}

    def example(self) -> ExampleRedaction:
        return ExampleRedaction(self)

    def redact(self, text: str, example: ExampleRedaction) -> str:
        wanted = [*self.always, *(marked_entities(text) & self._patterns)]
        if not wanted:
            return text
        results = self.analyzer.analyze(text=text, language="en", entities=wanted)
        found = _apart(r for r in results if _plausible(r, text))
        if not found:
            return text
        # Placeholders given in reading order (the anonymizer replaces from the end).
        names = {
            (r.start, r.end): example.placeholder(r.entity_type, text[r.start : r.end])
            for r in found
        }
        operators = {
            kind: OperatorConfig("custom", {"lambda": _named(names, text)})
            for kind in {r.entity_type for r in found}
        }
        return str(self.anonymizer.anonymize(text, found, operators).text)  # type: ignore[arg-type]


def _named(names: dict[tuple[int, int], str], text: str) -> Any:
    by_value = {text[start:end]: name for (start, end), name in names.items()}
    return lambda value: by_value[value]


def _plausible(result: RecognizerResult, text: str) -> bool:
    """False for an IPv6 address of fewer than two groups or without a group of three
    digits or more (`::1`, a slice's `1::3`): a loopback or a piece of code, not anyone's
    address."""
    if result.entity_type != "IP_ADDRESS":
        return True
    value = text[result.start : result.end].split("/")[0].split("%")[0]
    if ":" not in value or "." in value:
        return True
    groups = [group for group in value.split(":") if group]
    return len(groups) >= 2 and any(len(group) >= 3 for group in groups)


def _apart(results: Iterable[RecognizerResult]) -> list[RecognizerResult]:
    """The findings that do not overlap, in reading order: of overlapping ones the first,
    and of those starting at the same place the longest (a URL with a password over the
    e-mail-like text in it), then the likelier."""
    kept: list[RecognizerResult] = []
    for r in sorted(results, key=lambda r: (r.start, -(r.end - r.start), -r.score)):
        if not kept or r.start >= kept[-1].end:
            kept.append(r)
    return kept


def redact_rows(
    redactor: Redactor,
    rows: Sequence[Sequence[Any]],
    texts: Sequence[int],
    values: Sequence[int] = (),
    tally: RedactionTally | None = None,
) -> list[Any]:
    """`rows` with their `texts` columns (strings) and `values` columns (JSON: each string
    in them) redacted, one example a row: a value recurring in a row's columns gets one
    placeholder. Each row's findings are added to `tally`."""
    out: list[Any] = []
    marked = _ANY_MARK.search
    for row in rows:
        # Most rows: no text bears a mark and no JSON value has anything in it; kept whole.
        if (
            not redactor.always
            and not any(row[i] and marked(row[i]) for i in texts)
            and not any(row[i] for i in values)
        ):
            out.append(row)
            continue
        example = ExampleRedaction(redactor)
        new = list(row)
        for index in texts:
            new[index] = example.text(new[index])
        for index in values:
            new[index] = example.value(new[index])
        if tally is not None:
            tally.add(example)
        out.append(tuple(new))
    return out


@lru_cache(maxsize=4)
def redactor_for(config: RedactionConfig) -> Redactor:
    """The process's redactor for `config`, built on first use."""
    redactor = Redactor(config)
    logger.info("redaction of %s", ", ".join(redactor.entities))
    return redactor
