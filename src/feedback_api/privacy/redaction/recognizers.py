"""Presidio's recognizers of the pattern entities, and ours for secrets of known shapes."""

from __future__ import annotations

import re
from typing import cast

import phonenumbers
import tldextract
from presidio_analyzer import (
    AnalysisExplanation,
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
)

# Our recognizers: case matters in these shapes (Presidio's default flags ignore case).
_CASED = re.DOTALL | re.MULTILINE
_SECRETS: dict[str, list[Pattern]] = {
    "CREDENTIALS_URL": [
        # scheme://user:password@host[:port]: the whole address up to the host goes.
        Pattern(
            "url with a password",
            r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s/:@'\"<>]+:[^\s/@'\"<>]*@[^\s/?#'\"<>]+",
            0.9,
        )
    ],
    "API_KEY": [
        # OpenAI-style keys: sk-..., sk-proj-..., sk-svcacct-..., sk-ant-... (Anthropic).
        Pattern("sk- key", r"(?<![\w-])sk-[A-Za-z0-9_-]{20,}", 0.9),
    ],
    "AWS_ACCESS_KEY": [
        Pattern("AWS access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b", 0.9),
    ],
    "GITHUB_TOKEN": [
        Pattern("GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b", 0.9),
        Pattern("GitHub fine-grained token", r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b", 0.9),
    ],
    "JWT": [
        Pattern("JWT", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", 0.9),
    ],
    "PRIVATE_KEY": [
        # The whole block, or to the end of the text when it was cut before its END line.
        Pattern(
            "PEM private key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
            0.9,
        )
    ],
}


# The public suffix list bundled with tldextract, never fetched: a server without network
# is a normal case, and the list changes little.
_OFFLINE_SUFFIXES = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, its domain checked against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_SUFFIXES(pattern_text).fqdn != ""


class RegionalPhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer, its matches the same (one pass of python-phonenumbers'
    matcher per region, at the same leniency), without the second parse of each match
    that only named the match's region in its explanation: that parse was a third of the
    time of a text with a phone number in it."""

    name: str  # set by EntityRecognizer's constructor

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        leniency = cast(int, self.leniency)  # the constructor's (Presidio's default: 1)
        matches = [
            match
            for region in self.supported_regions
            for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=leniency)
        ]
        return EntityRecognizer.remove_duplicates(
            [self._result(match.start, match.end) for match in matches]
        )

    def _result(self, start: int, end: int) -> RecognizerResult:
        explanation = AnalysisExplanation(
            recognizer=PhoneRecognizer.__name__,
            original_score=self.SCORE,
            textual_explanation="Recognized as a phone number of "
            + ", ".join(self.supported_regions),
        )
        return RecognizerResult(
            entity_type=self.supported_entities[0],
            start=start,
            end=end,
            score=self.SCORE,
            analysis_explanation=explanation,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


def secret_recognizer(entity: str, patterns: list[Pattern]) -> PatternRecognizer:
    """A recognizer of secrets of one shape (case-sensitive)."""
    return PatternRecognizer(
        supported_entity=entity,
        name=f"{entity.lower()}_recognizer",
        patterns=patterns,
        global_regex_flags=_CASED,
    )


def pattern_recognizers(
    entities: tuple[str, ...], phone_regions: tuple[str, ...]
) -> list[EntityRecognizer]:
    """The recognizers of the pattern entities among `entities`."""
    presidio: dict[str, EntityRecognizer] = {
        "EMAIL": OfflineEmailRecognizer(supported_entity="EMAIL"),
        "PHONE": RegionalPhoneRecognizer(supported_entity="PHONE", supported_regions=phone_regions),
        "CREDIT_CARD": CreditCardRecognizer(supported_entity="CREDIT_CARD"),
        "IBAN": IbanRecognizer(supported_entity="IBAN"),
        "IP_ADDRESS": IpRecognizer(supported_entity="IP_ADDRESS"),
    }
    ours = {name: secret_recognizer(name, patterns) for name, patterns in _SECRETS.items()}
    every = {**presidio, **ours}
    return [every[name] for name in entities if name in every]
