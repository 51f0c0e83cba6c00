"""Fine-tuning datasets and offline files: streamed by the API, written whole by the CLI and
the weekly job."""

# The largest weight an export takes for a voted example (the API's body and the CLI).
WEIGHT_MAX = 1000.0
