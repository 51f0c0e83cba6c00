from feedback_api.cli.commands import app

__all__ = ["app"]
