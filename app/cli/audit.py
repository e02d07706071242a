"""`prism audit …`: check the audit log's hash chain."""

import typer

from app.audit.verify import verify_chain
from app.cli.support import fail, load_settings, one_line_errors, open_session, say

audit = typer.Typer(
    name="audit", help="The audit log: verify its hash chain.", no_args_is_help=True
)


@audit.command("verify")
@one_line_errors
def verify() -> None:
    """Walk the chain from its checkpoint: exit 0 when every row holds, 1 naming the first
    broken one (changed, deleted or inserted outside the console)."""
    with open_session(load_settings()) as session:
        result = verify_chain(session=session)
    if not result.ok:
        fail(f"audit row {result.broken_id} is broken: {result.problem}")
    since = f" (after the checkpoint at row {result.pruned_id})" if result.pruned_id else ""
    say(f"{result.rows:,} rows verified{since}.")
