"""The entity types redaction knows and its configuration: light, imported by the settings
(Presidio itself is loaded only when a redactor is first built: it takes seconds).

An entity type's name is its placeholder's (`EMAIL` -> `<EMAIL_1>`) and its key in every
count (summaries, manifests, export runs) and in FEEDBACK_REDACT_ENTITIES: one name
everywhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

# Found by patterns alone: no language model, no network.
PATTERN_ENTITIES = (
    "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "CREDENTIALS_URL",
    "API_KEY", "AWS_ACCESS_KEY", "GITHUB_TOKEN", "JWT", "PRIVATE_KEY",
)  # fmt: skip
# Found by a spaCy model's named entities, where one is installed.
MODEL_ENTITIES = ("PERSON", "LOCATION")
KNOWN_ENTITIES = (*PATTERN_ENTITIES, *MODEL_ENTITIES)

# Phone numbers in their national form are read as numbers of these regions (ISO 3166
# codes, FEEDBACK_REDACT_PHONE_REGIONS); a number written with its +country code is found
# whatever the list (CA and the rest of +1 read as US). Each region costs one more pass
# over a text with seven digits in it.
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN")

# spaCy models looked for when none is named, best first (never downloaded).
SPACY_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_trf")


@dataclass(frozen=True)
class RedactionConfig:
    """What a redactor looks for. `spacy_model`: an installed spaCy model for PERSON and
    LOCATION, or None (the pattern entities only)."""

    entities: tuple[str, ...] = KNOWN_ENTITIES
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    spacy_model: str | None = None


def check_entities(names: list[str]) -> list[str]:
    """`names` upper-cased, each a known entity type; a ValueError lists the known ones."""
    wanted = [name.strip().upper() for name in names if name.strip()]
    unknown = [name for name in wanted if name not in KNOWN_ENTITIES]
    if unknown:
        raise ValueError(
            f"unknown entity type {unknown[0]!r} in FEEDBACK_REDACT_ENTITIES; the known ones "
            f"are {', '.join(KNOWN_ENTITIES)}"
        )
    return wanted


def installed_spacy_model(wanted: str | None = None) -> str | None:
    """`wanted` if it is installed, else the first of SPACY_MODELS that is (None: none)."""
    import importlib.util

    for name in (wanted,) if wanted else SPACY_MODELS:
        if importlib.util.find_spec(name) is not None:
            return name
    return None


class Findings(Protocol):
    found: Counter[str]


@dataclass
class RedactionTally:
    """The redactions of a whole export: per type, and how many examples had any."""

    examples: int = 0
    by_type: Counter[str] = field(default_factory=Counter)

    def add(self, example: Findings) -> None:
        if example.found:
            self.examples += 1
            self.by_type.update(example.found)

    def as_dict(self) -> dict[str, Any]:
        return {"examples": self.examples, "by_type": dict(sorted(self.by_type.items()))}
