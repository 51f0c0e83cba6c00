"""The weekly model-performance report: JSON, Markdown and self-contained HTML."""
