from feedback_api.cli.commands import app

app()
