"""Miner efficiency (SPEC §14): power and fans on every ingest path, an admin's expected
hashrate, name and location, and the figures derived from them in the list and the series."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.core.timeutil import isoformat, utcnow
from app.miners.ingest import record_samples
from app.models import Miner, MinerSample
from app.models.audit import AuditEvent

TH = 1e12


def _rows(session: Session) -> list[MinerSample]:
    session.expire_all()
    return list(session.exec(select(MinerSample).order_by(col(MinerSample.id))).all())


def _count(session: Session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(MinerSample)).one()


def _single(fields: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    return "/api/miners/sample", {"miner_id": "rig-1", **fields}, ""


def _batch(fields: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    good = {"miner_id": "rig-0", "hashrate_1m": 1.0}
    return "/api/miners/samples", {"samples": [good, {"miner_id": "rig-1", **fields}]}, "samples.1."


def _bridge(fields: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    payload = {"type": "miner.sample", "sample": {"miner": "rig-1", **fields}}
    return "/events", {"topic": "miner.sample", "payload": payload}, "payload.sample."


PATHS = {"single": _single, "batch": _batch, "bridge": _bridge}
Path = Callable[[dict[str, Any]], tuple[str, dict[str, Any], str]]


STORED = [
    ({"hashrate_1m": 100 * TH, "power_w": 3250.5, "fan_rpm": 4200}, (3250.5, 4200)),
    # As text, as the other numbers may come (appendix A).
    ({"power_w": "3250.5", "fan_rpm": "4200"}, (3250.5, 4200)),
    ({"hashrate_1m": 5.0}, (None, None)),
]


@pytest.mark.parametrize("shape", PATHS)
@pytest.mark.parametrize(("fields", "stored"), STORED)
def test_every_ingest_path_stores_power_and_fan_speed(
    client: TestClient,
    db_session: Session,
    shape: str,
    fields: dict[str, Any],
    stored: tuple[Any, Any],
) -> None:
    path, body, _ = PATHS[shape](fields)
    assert client.post(path, json=body).status_code == 202
    rows = [row for row in _rows(db_session) if row.miner_id == "rig-1"]
    assert [(row.power_w, row.fan_rpm) for row in rows] == [stored]


BAD = [
    ("power_w", -1, "greater than or equal to 0"),
    ("power_w", 1_000_000.5, "less than or equal to 1000000"),
    ("power_w", 1_000_001, "less than or equal to 1000000"),
    ("power_w", "1000001", "valid number"),  # the text form the schema states stops at the bound
    ("power_w", "lots", "valid number"),
    ("power_w", True, "valid number"),
    ("fan_rpm", 4200.5, "valid integer"),
    ("fan_rpm", -5, "greater than or equal to 0"),
    ("fan_rpm", 100_001, "less than or equal to 100000"),
    ("fan_rpm", "1e3", "valid integer"),
    ("fan_rpm", "100001", "valid integer"),
]


@pytest.mark.parametrize("shape", PATHS)
@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_out_of_bounds_power_or_fans_are_a_422_naming_the_field_and_store_nothing(
    client: TestClient,
    db_session: Session,
    shape: str,
    field: str,
    value: Any,
    message: str,
) -> None:
    path, body, prefix = PATHS[shape]({field: value})
    response = client.post(path, json=body)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [".".join(str(part) for part in error["loc"][1:]) for error in errors] == [
        f"{prefix}{field}"
    ]
    assert message in errors[0]["msg"]
    assert _count(db_session) == 0


def test_power_that_is_not_finite_is_refused(client: TestClient, db_session: Session) -> None:
    response = client.post(
        "/api/miners/sample",
        content=b'{"miner_id": "rig-1", "power_w": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert _count(db_session) == 0


def _item(client: TestClient, miner_id: str) -> dict[str, Any]:
    response = client.get("/api/miners")
    assert response.status_code == 200
    return next(item for item in response.json()["items"] if item["minerId"] == miner_id)


def test_the_list_derives_efficiency_and_percent_of_expected_from_the_newest_sample(
    client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    record_samples(
        session=db_session,
        rows=[
            # Older: never shown. Newest: 100 TH/s reported, 3 % stale → 97 TH/s effective.
            {"miner_id": "s19", "recorded_at": now - timedelta(minutes=1), "power_w": 9e9},
            {
                "miner_id": "s19",
                "recorded_at": now,
                "hashrate_1m": 100 * TH,
                "shares_accepted": 97,
                "shares_stale": 3,
                "power_w": 3250.0,
                "fan_rpm": 5400,
            },
        ],
    )
    item = _item(client, "s19")
    assert item["powerW"] == 3250.0
    assert item["fanRpm"] == 5400
    assert item["efficiencyJPerTH"] == pytest.approx(3250.0 / 97.0)
    assert item["percentOfExpected"] is None  # no expected hashrate yet
    assert item["expectedHashrate"] is None

    response = client.put("/api/miners/s19", json={"expectedHashrate": 110 * TH})
    assert response.status_code == 200
    assert response.json()["percentOfExpected"] == pytest.approx(97 / 110 * 100)
    assert _item(client, "s19")["percentOfExpected"] == pytest.approx(97 / 110 * 100)


def test_no_efficiency_without_power_or_at_zero_hashrate(
    client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    record_samples(
        session=db_session,
        rows=[
            {"miner_id": "no-power", "recorded_at": now, "hashrate_1m": 5 * TH},
            {
                "miner_id": "idle",
                "recorded_at": now,
                "hashrate_1m": 0.0,
                "hashrate_15m": 0.0,
                "power_w": 120.0,
            },
            {"miner_id": "no-rate", "recorded_at": now, "power_w": 120.0},
        ],
    )
    for miner_id in ("no-power", "idle", "no-rate"):
        assert _item(client, miner_id)["efficiencyJPerTH"] is None, miner_id
    client.put("/api/miners/idle", json={"expectedHashrate": 5 * TH})
    assert _item(client, "idle")["percentOfExpected"] == 0.0


def _one_miner(db_session: Session) -> None:
    record_samples(session=db_session, rows=[{"miner_id": "rig-1", "recorded_at": utcnow()}])


def test_put_replaces_the_admin_fields_and_answers_the_miner(
    client: TestClient, db_session: Session
) -> None:
    _one_miner(db_session)
    body = {"expectedHashrate": 2e12, "name": "Rig one", "location": "Shelf 3"}
    response = client.put("/api/miners/rig-1", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert {key: answer[key] for key in body} == body
    assert answer["health"] in ("ok", "pending")
    # PUT replaces: what is left out is cleared, and so is empty text.
    response = client.put("/api/miners/rig-1", json={"name": "", "location": "Shelf 4"})
    assert response.status_code == 200
    db_session.expire_all()
    miner = db_session.get(Miner, "rig-1")
    assert miner is not None
    assert (miner.expected_hashrate, miner.name, miner.location) == (None, None, "Shelf 4")


def test_each_change_is_audited_with_what_changed(client: TestClient, db_session: Session) -> None:
    _one_miner(db_session)
    client.put("/api/miners/rig-1", json={"expectedHashrate": 2e12, "name": "A"})
    client.put("/api/miners/rig-1", json={"expectedHashrate": 2e12, "name": "B"})
    db_session.expire_all()
    rows = db_session.exec(select(AuditEvent).where(col(AuditEvent.action) == "miner.update")).all()
    assert [(row.target_type, row.target_id) for row in rows] == [("miner", "rig-1")] * 2
    assert rows[0].detail == {
        "changed": {
            "expectedHashrate": {"from": None, "to": 2e12},
            "name": {"from": None, "to": "A"},
        }
    }
    assert rows[1].detail == {"changed": {"name": {"from": "A", "to": "B"}}}
    assert rows[1].summary == "Changed miner rig-1: name"


REFUSED = [
    ({"expectedHashrate": 0}, "expectedHashrate", "greater than 0"),
    ({"expectedHashrate": -5}, "expectedHashrate", "greater than 0"),
    ({"expectedHashrate": 1e22}, "expectedHashrate", "less than or equal to"),
    ({"expectedHashrate": "100"}, "expectedHashrate", "valid number"),
    ({"name": "x" * 201}, "name", "at most 200"),
    ({"location": "a\u0007b"}, "location", "control"),
    ({"expected": 5}, "expected", "Extra inputs"),
]


@pytest.mark.parametrize(("body", "field", "message"), REFUSED)
def test_bad_admin_fields_are_a_422_naming_the_field_and_change_nothing(
    client: TestClient, db_session: Session, body: dict[str, Any], field: str, message: str
) -> None:
    _one_miner(db_session)
    client.put("/api/miners/rig-1", json={"name": "Kept"})
    response = client.put("/api/miners/rig-1", json=body)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert errors[0]["loc"][-1] == field
    assert message.lower() in errors[0]["msg"].lower()
    db_session.expire_all()
    miner = db_session.get(Miner, "rig-1")
    assert miner is not None and miner.name == "Kept"
    audited = db_session.exec(
        select(func.count()).select_from(AuditEvent).where(col(AuditEvent.action) == "miner.update")
    ).one()
    assert audited == 1


def test_an_unknown_miner_is_404(client: TestClient) -> None:
    response = client.put("/api/miners/ghost", json={"name": "X"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Miner not found"}


@pytest.mark.parametrize("scope", ["read", "ingest", "operate"])
def test_only_an_admin_sets_them(
    client: TestClient,
    db_session: Session,
    token_for: Callable[[str], dict[str, str]],
    scope: str,
) -> None:
    _one_miner(db_session)
    response = client.put("/api/miners/rig-1", json={"name": "X"}, headers=token_for(scope))
    assert response.status_code == 403
    db_session.expire_all()
    miner = db_session.get(Miner, "rig-1")
    assert miner is not None and miner.name is None


T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _series(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/miners/rig-1/series", params=params)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_the_series_carry_power_fans_and_efficiency_raw_and_from_the_rollup(
    client: TestClient, db_session: Session
) -> None:
    # A day of one sample a minute: 3,000 W at 100 TH/s, then 3,300 W at 110 TH/s.
    rows = [
        {
            "miner_id": "rig-1",
            "recorded_at": T0 + timedelta(minutes=minute),
            "hashrate_1m": (100 if minute < 720 else 110) * TH,
            "power_w": 3000.0 if minute < 720 else 3300.0,
            "fan_rpm": 4000 + minute % 7,
        }
        for minute in range(1440)
    ]
    record_samples(session=db_session, rows=rows)
    window = {"since": isoformat(T0), "until": isoformat(T0 + timedelta(days=1))}
    bucketed = _series(client, points=24, **window)
    assert bucketed["bucketSeconds"] >= 3600  # read from the rollup
    points = bucketed["points"]
    series = bucketed["series"]
    # 3,000 W / 100 TH/s and 3,300 W / 110 TH/s: 30 J/TH throughout.
    assert series["efficiencyJPerTH"]["min"] == [pytest.approx(30.0)] * points
    assert series["efficiencyJPerTH"]["max"] == [pytest.approx(30.0)] * points
    assert (series["powerW"]["avg"][0], series["powerW"]["avg"][-1]) == (3000.0, 3300.0)
    assert series["powerW"]["min"][points // 2] == 3000.0
    assert series["fanRpm"]["max"] == [4006] * points
    raw = _series(client, since=isoformat(T0), until=isoformat(T0 + timedelta(minutes=3)))
    assert raw["bucketSeconds"] is None
    assert raw["series"]["powerW"]["avg"] == [3000.0] * 3
    assert raw["series"]["efficiencyJPerTH"]["avg"] == [pytest.approx(30.0)] * 3
    assert raw["series"]["percentOfExpected"]["avg"] == [None] * 3  # none set yet
    client.put("/api/miners/rig-1", json={"expectedHashrate": 110 * TH})
    raw = _series(client, since=isoformat(T0), until=isoformat(T0 + timedelta(minutes=3)))
    assert raw["series"]["percentOfExpected"]["avg"] == [pytest.approx(100 / 110 * 100)] * 3
    bucketed = _series(client, points=24, **window)
    late = bucketed["series"]["percentOfExpected"]["max"][-1]
    assert late == pytest.approx(100.0)  # 110 TH/s in the second half
