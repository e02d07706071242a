"""What an admin sets on a miner (SPEC §14): its expected hashrate, name and location."""

from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.audit.service import Actor, record
from app.core.errors import NotFoundError
from app.models import Miner
from app.models.miner import MinerFields

MINER_NOT_FOUND = "Miner not found"


def _fields(miner: Miner) -> dict[str, Any]:
    return {
        "expectedHashrate": miner.expected_hashrate,
        "name": miner.name,
        "location": miner.location,
    }


def update_miner(
    *, session: Session, miner_id: str, data: MinerFields, actor: Actor, now: datetime
) -> Miner:
    """Replace the admin fields of a miner that has reported; audited as `miner.update`.

    A miner exists once it sent a sample (ingest creates its row), so an unknown id is
    NotFoundError rather than a row made up here. Empty text counts as no value.
    """
    miner = session.get(Miner, miner_id)
    if miner is None:
        raise NotFoundError(MINER_NOT_FOUND)
    before = _fields(miner)
    miner.expected_hashrate = data.expected_hashrate
    miner.name = data.name or None
    miner.location = data.location or None
    session.add(miner)
    session.flush()
    after = _fields(miner)
    changed = {
        key: {"from": before[key], "to": after[key]} for key in after if before[key] != after[key]
    }
    record(
        session,
        actor=actor,
        action="miner.update",
        target_type="miner",
        target_id=miner_id,
        summary=f"Changed miner {miner_id}: {', '.join(changed) or 'nothing'}",
        detail={"changed": changed},
        now=now,
    )
    session.commit()
    return miner
