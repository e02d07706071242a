"""RoadChain: receipts by status and kind, receipts list, merkle roots, webhook log."""

from typing import Any

from fastapi.testclient import TestClient


def _body(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["available"] is True, body
    return body


def test_receipts_are_counted_by_status_and_kind(api: TestClient) -> None:
    body = _body(api.get("/api/main/roadchain"))
    assert body["total"] == 4
    assert body["byStatus"] == {"confirmed": 2, "pending": 1, "failed": 1}
    assert body["byKind"] == {"usage": 2, "manifest": 1, "badge": 1}
    assert body["byStatusAndKind"] == [
        {"status": "confirmed", "kind": "badge", "count": 1},
        {"status": "confirmed", "kind": "usage", "count": 1},
        {"status": "failed", "kind": "usage", "count": 1},
        {"status": "pending", "kind": "manifest", "count": 1},
    ]


def test_receipts_list_newest_first_with_epoch_times_as_iso_and_no_signature(
    api: TestClient,
) -> None:
    body = _body(api.get("/api/main/roadchain/receipts"))
    assert [receipt["id"] for receipt in body["items"]] == [4, 3, 2, 1]
    assert body["items"][3] == {
        "id": 1,
        "userId": 1,
        "kind": "usage",
        "status": "confirmed",
        "refHash": "0xref1",
        "value": 1000,
        "metaUri": "ipfs://meta/1",
        "sigAlgo": "eip191",
        "chainId": 8453,
        "externalId": "ext-1",
        "explorerUrl": "https://explorer.example/tx/1",
        "createdAt": "2026-01-05T10:01:00Z",
        "updatedAt": "2026-01-05T10:01:30Z",
    }


def test_receipts_filter_by_status_kind_user_and_time_and_page(api: TestClient) -> None:
    def ids(**params: Any) -> list[int]:
        body = _body(api.get("/api/main/roadchain/receipts", params=params))
        return [receipt["id"] for receipt in body["items"]]

    assert ids(status="confirmed") == [4, 1]
    assert ids(kind="usage") == [3, 1]
    assert ids(user_id="2") == [4, 3]
    assert ids(user_id="nobody") == []
    assert ids(since="2026-01-05T10:02:00Z", until="2026-01-05T10:04:00Z") == [3, 2]
    first = _body(api.get("/api/main/roadchain/receipts", params={"limit": 3}))
    rest = api.get(
        "/api/main/roadchain/receipts", params={"limit": 3, "cursor": first["nextCursor"]}
    )
    assert [receipt["id"] for receipt in _body(rest)["items"]] == [1]


def test_merkle_roots_latest_day_first(api: TestClient) -> None:
    body = _body(api.get("/api/main/roadchain/merkle-roots", params={"limit": 2}))
    assert body["items"] == [
        {"dayKey": day, "root": root, "leafCount": leaves, "createdAt": at}
        for day, root, leaves, at in [
            ("2026-01-05", "0xroot5", 50, "2026-01-05T10:00:00Z"),
            ("2026-01-04", "0xroot4", 40, "2026-01-04T10:00:00Z"),
        ]
    ]
    rest = _body(api.get("/api/main/roadchain/merkle-roots", params={"cursor": body["nextCursor"]}))
    assert [root["dayKey"] for root in rest["items"]] == ["2026-01-03"]


def test_the_webhook_log_shows_payload_sizes_never_bodies(api: TestClient) -> None:
    response = api.get("/api/main/roadchain/webhooks")
    body = _body(response)
    assert body["items"] == [
        {
            "id": entry_id,
            "provider": provider,
            "eventType": event,
            "receivedAt": at,
            "payloadBytes": size,
        }
        for entry_id, provider, event, at, size in [
            (2, "stripe", "charge.succeeded", "2026-01-05T10:02:00Z", 2),
            (1, "alchemy", "receipt.confirmed", "2026-01-05T10:01:00Z", 65),
        ]
    ]
    assert 'receipt.confirmed"' in response.text and "signature" not in response.text
    alchemy = _body(api.get("/api/main/roadchain/webhooks", params={"provider": "alchemy"}))
    assert [entry["id"] for entry in alchemy["items"]] == [1]
