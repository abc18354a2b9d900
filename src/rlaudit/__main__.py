from rlaudit.cli import app

app()
