"""prism token create / list / revoke, checked against the service that authenticates."""

from sqlmodel import Session

from app.auth import tokens
from tests.cli.runner import assert_one_line_error, engine_for, invoke


def _authenticate(url: str, plaintext: str) -> tokens.Principal | None:
    with engine_for(url) as engine, Session(engine) as session:
        return tokens.authenticate(session=session, plaintext=plaintext, admin_token=None)


def test_a_created_token_is_printed_once_and_authenticates(migrated_url: str) -> None:
    result = invoke("token", "create", "--name", "deploy bot", "--scope", "ingest")
    assert result.exit_code == 0, result.output
    plaintext = result.stdout.strip()
    assert plaintext.startswith(tokens.TOKEN_PREFIX)
    assert len(result.stdout.splitlines()) == 1  # the token alone: `TOKEN=$(prism token create …)`
    assert "will not be shown again" in result.stderr
    principal = _authenticate(migrated_url, plaintext)
    assert principal is not None
    assert (principal.name, principal.scope) == ("deploy bot", "ingest")


def test_the_list_shows_each_token_but_never_the_token(migrated_url: str) -> None:
    first = invoke("token", "create", "--name", "reader", "--scope", "read").stdout.strip()
    invoke("token", "create", "--name", "admin-ci", "--scope", "admin")
    result = invoke("token", "list")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "SCOPE", "PREFIX", "CREATED", "LAST", "USED", "REVOKED"]
    assert len(rows) == 2
    assert first not in result.stdout
    reader = next(row for row in rows if " reader " in row)
    assert " read " in reader
    assert first[:10] in reader  # the prefix tells tokens apart
    assert reader.rstrip().endswith("-")  # not revoked


def test_a_revoked_token_no_longer_authenticates(migrated_url: str) -> None:
    plaintext = invoke("token", "create", "--name", "old", "--scope", "admin").stdout.strip()
    token_id = invoke("token", "list").stdout.splitlines()[1].split()[0]
    result = invoke("token", "revoke", token_id)
    assert result.exit_code == 0, result.output
    assert token_id in result.stdout
    assert _authenticate(migrated_url, plaintext) is None
    row = invoke("token", "list").stdout.splitlines()[1]
    assert not row.rstrip().endswith(" -")  # the revocation time is shown


def test_revoking_an_unknown_token_fails(migrated_url: str) -> None:
    line = assert_one_line_error(invoke("token", "revoke", "nope"))
    assert "not found" in line.lower()


def test_an_unknown_scope_is_a_usage_error(migrated_url: str) -> None:
    result = invoke("token", "create", "--name", "x", "--scope", "root")
    assert result.exit_code == 2
    assert "--scope" in result.stderr
    assert "Traceback" not in result.output


def test_an_empty_name_is_refused_and_nothing_is_stored(migrated_url: str) -> None:
    line = assert_one_line_error(invoke("token", "create", "--name", "  ", "--scope", "read"))
    assert "name" in line
    assert "No tokens yet" in invoke("token", "list").stdout
