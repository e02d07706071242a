"""The rollup fold's backlog: samples stored but not yet folded into the chart rollups.

Reads are exact whatever the backlog (app/miners/fold.py), but every chart and availability
read merges the unfolded samples of its miners, so a backlog that keeps growing makes them
slower and means no service is folding (PRISM_ROLLUP_FOLD_SECONDS=0 everywhere, or none
running while samples arrive some other way).
"""

from sqlalchemy import Engine

from app.miners.fold import FOLD_BATCH, read_watermark, unfolded_count
from app.ops.doctor_checks import Check, passed, warned

# A service folds every few seconds: this many samples waiting is minutes of a large fleet.
BACKLOG_WARNING = 50 * FOLD_BATCH


def fold_check(engine: Engine) -> Check:
    with engine.connect() as connection:
        backlog = unfolded_count(connection)
        watermark = read_watermark(connection)
    detail = f"{backlog:,} samples not yet folded into the rollups (folded through id {watermark})"
    if backlog > BACKLOG_WARNING:
        return warned(
            "rollup_fold",
            detail,
            "run the service with PRISM_ROLLUP_FOLD_SECONDS above 0 on at least one replica; "
            "it folds the backlog in steps within minutes",
        )
    return passed("rollup_fold", detail)
