"""Each command-line test gets its own working directory and its own database."""

from tests.cli.runner import database_url, migrated_url, sqlite_url

__all__ = ["database_url", "migrated_url", "sqlite_url"]
