"""Redaction of personal data with Presidio: typed placeholders, the same per value.

One `Redactor` per process and configuration (`redactor_for`): building Presidio's engines
costs a few hundred milliseconds, analysing a text a fraction of one. Texts that cannot hold
anything a pattern finds (no digits in a row, no `@`, no key prefix, ...) skip Presidio
entirely: most texts of a chat are such, and a dataset is written at the speed of the others.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from presidio_analyzer import (
    AnalyzerEngine,
    EntityRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine, NoOpNlpEngine, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from feedback_api.privacy.redaction.entities import (
    MODEL_ENTITIES,
    PATTERN_ENTITIES,
    RedactionConfig,
    RedactionTally,
)
from feedback_api.privacy.redaction.marks import marked_entities
from feedback_api.privacy.redaction.recognizers import pattern_recognizers

logger = logging.getLogger(__name__)

# Below this score a finding is left alone (Presidio's IPv6 `::` alone scores 0.1).
MIN_SCORE = 0.35


class Finding(NamedTuple):
    """A value to replace: where it is in its text, and its entity type."""

    start: int
    end: int
    entity: str


# The findings of each distinct text of a batch of rows: a system prompt, a frequent
# question, a signature are analysed once per batch, not once per row.
FindingsMemo = dict[str, tuple[Finding, ...]]


@dataclass
class ExampleRedaction:
    """The redaction of one example: each value found gets one placeholder, numbered per
    type in the order found, wherever it recurs in the example's texts."""

    redactor: Redactor
    placeholders: dict[tuple[str, str], str] = field(default_factory=dict)
    found: Counter[str] = field(default_factory=Counter)
    # Findings of texts already analysed (shared by the examples of a batch), or None.
    memo: FindingsMemo | None = None

    def text(self, value: str | None) -> str | None:
        if not value:
            return value
        return self.replaced(value, self.redactor.findings(value, self.memo))

    def replaced(self, text: str, findings: Sequence[Finding]) -> str:
        """`text` with each finding (apart, in reading order) replaced by its placeholder."""
        if not findings:
            return text
        parts: list[str] = []
        last = 0
        for start, end, entity in findings:
            parts += (text[last:start], self.placeholder(entity, text[start:end]))
            last = end
        parts.append(text[last:])
        return "".join(parts)

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


class WithoutContext(ContextAwareEnhancer):
    """Scores kept as the recognizers gave them. Without a language model a text has no
    tokens, so no word around a match can raise its score: Presidio's lemma enhancer would
    deep-copy every result to change nothing (a fifth of the time of a text analysed)."""

    def __init__(self) -> None:
        super().__init__(
            context_similarity_factor=0,
            min_score_with_context_similarity=0,
            context_prefix_count=0,
            context_suffix_count=0,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        return raw_results


class Redactor:
    def __init__(self, config: RedactionConfig) -> None:
        entities = tuple(e for e in config.entities if e in PATTERN_ENTITIES)
        recognizers = pattern_recognizers(entities, config.phone_regions)
        nlp: NlpEngine
        context: ContextAwareEnhancer | None = None  # Presidio's own
        model_entities = [e for e in config.entities if e in MODEL_ENTITIES]
        if config.spacy_model and model_entities:
            nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": config.spacy_model}])
            recognizers.append(SpacyRecognizer(supported_entities=model_entities))
            entities += tuple(model_entities)
        else:
            # No language model: tokens and named entities are not needed by any pattern.
            nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
            context = WithoutContext()
        registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp,
            supported_languages=["en"],
            default_score_threshold=MIN_SCORE,
            context_aware_enhancer=context,
        )
        self.entities = entities
        # With a model, a name can be in any text: every text is analysed for them.
        self.always = [e for e in entities if e in MODEL_ENTITIES]
        self._patterns = {e for e in entities if e in PATTERN_ENTITIES}

    def example(self) -> ExampleRedaction:
        return ExampleRedaction(self)

    def findings(self, text: str, memo: FindingsMemo | None = None) -> tuple[Finding, ...]:
        """What is to be replaced in `text`, apart and in reading order (taken from `memo`
        when the text was analysed already, and added to it)."""
        if memo is not None and (known := memo.get(text)) is not None:
            return known
        wanted = [*self.always, *(marked_entities(text) & self._patterns)]
        found: tuple[Finding, ...] = ()
        if wanted:
            results = self.analyzer.analyze(text=text, language="en", entities=wanted)
            found = tuple(
                Finding(r.start, r.end, r.entity_type)
                for r in _apart(r for r in results if _plausible(r, text))
            )
        if memo is not None:
            memo[text] = found
        return found


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
    memo: FindingsMemo = {}
    findings = redactor.findings
    for row in rows:
        # Most rows: nothing found in any text and no JSON value; kept whole.
        if not any(row[i] and findings(row[i], memo) for i in texts) and not any(
            row[i] for i in values
        ):
            out.append(row)
            continue
        example = ExampleRedaction(redactor, memo=memo)
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
