"""Response shapes of the cross-service views (camelCase on the wire).

Every view answers either its data with `available: true` or `Unavailable` with
`available: false` and the reason (main DB not configured, unreachable, too slow, or a
table/column missing). Money is exact: JSON integers, or decimal strings if fractional.
"""

from typing import Any, Literal

from pydantic import Field

from app.core.timeutil import UTCDateTime
from app.models.base import ApiModel

Key = int | str
Money = int | str


class Unavailable(ApiModel):
    """A view (or one panel of it) that cannot be shown, and why."""

    available: Literal[False] = False
    reason: str


class _Available(ApiModel):
    available: Literal[True] = True


# --- Fleet reconciliation -------------------------------------------------------------------

Category = Literal["in_both", "console_only", "main_only"]


class ReconciliationRow(ApiModel):
    category: Category
    matched_by: Literal["id", "slug"] | None = None
    console_id: str | None = None
    console_name: str | None = None
    console_status: str | None = Field(None, description="Shown (effective) console status.")
    main_id: Key | None = None
    main_slug: str | None = None
    main_name: str | None = None
    main_status: str | None = Field(None, description="Status as stored in the main DB.")
    main_status_mapped: str | None = Field(
        None, description="online | degraded | offline, or null for an unknown main status."
    )
    main_heartbeat_at: str | None = None
    main_location: str | None = None
    status_disagrees: bool = False


class ReconciliationCounts(ApiModel):
    in_both: int
    console_only: int
    main_only: int
    status_disagreements: int
    console_total: int
    main_total: int


class ReconciliationView(_Available):
    status_map: dict[str, str]
    has_location: bool
    truncated: bool = Field(False, description="More main agents exist than were compared.")
    counts: ReconciliationCounts
    items: list[ReconciliationRow]
    next_cursor: str | None = None


# --- Agent logs -----------------------------------------------------------------------------


class MainAgent(ApiModel):
    id: Key
    slug: str | None = None
    name: str | None = None
    status: str | None = None
    heartbeat_at: str | None = None
    location: str | None = None


class AgentLog(ApiModel):
    id: Key
    level: str | None = None
    message: str | None = None
    meta: Any = None
    created_at: str | None = None


class AgentLogPage(_Available):
    agent: MainAgent
    matched_by: Literal["id", "slug"]
    items: list[AgentLog]
    next_cursor: str | None = None


# --- Users, wallets, transactions -----------------------------------------------------------


class MainUser(ApiModel):
    id: Key
    email: str | None = None
    name: str | None = None
    role: str | None = None
    is_active: bool | None = None
    last_login_at: str | None = None
    created_at: str | None = None


class UserPage(_Available):
    items: list[MainUser]
    next_cursor: str | None = None


class Wallet(ApiModel):
    id: Key
    owner_type: str | None = None
    balance: Money | None = None
    created_at: str | None = None


class UserWallets(_Available):
    items: list[Wallet]
    total_balance: Money


class Transaction(ApiModel):
    id: Key
    wallet_from: Key | None = None
    wallet_to: Key | None = None
    amount: Money | None = None
    memo: str | None = None
    created_at: str | None = None
    direction: Literal["in", "out", "internal"]


class TransactionPage(_Available):
    items: list[Transaction]
    next_cursor: str | None = None


class UserDetail(_Available):
    user: MainUser
    wallets: UserWallets | Unavailable
    transactions: TransactionPage | Unavailable = Field(
        description="The first page of the user's transactions, newest first."
    )


# --- Tasks ----------------------------------------------------------------------------------


class MainTask(ApiModel):
    id: Key
    title: str | None = None
    status: str | None = None
    description: str | None = None
    priority: Key | None = None
    assignee_id: Key | None = None
    due_date: str | None = None
    project_id: Key | None = None
    user_id: Key | None = None
    created_at: str | None = None
    updated_at: str | None = None


class TaskView(_Available):
    variant: Literal["assignee", "project", "unknown"] = Field(
        description="assignee: (title, description, status todo, priority, assignee_id, "
        "due_date); project: (project_id, user_id, title, status pending)."
    )
    counts: dict[str, int] = Field(description="Every task of the table, by status.")
    total: int
    items: list[MainTask]
    next_cursor: str | None = None


# --- Timeline -------------------------------------------------------------------------------


class TimelineItem(ApiModel):
    source: Literal["event", "commit"]
    id: Key
    at: str | None = None
    type: str | None = None
    entity_type: str | None = None
    entity_id: Key | None = None
    data: Any = None
    repo: str | None = None
    branch: str | None = None
    hash: str | None = None
    author: str | None = None
    message: str | None = None


class TimelinePage(_Available):
    sources: dict[str, bool] = Field(description="Which of events and commits are shown.")
    notes: list[str] = Field(default_factory=list, description="Why a source is missing.")
    items: list[TimelineItem]
    next_cursor: str | None = None


# --- RoadChain ------------------------------------------------------------------------------


class ReceiptCount(ApiModel):
    status: str | None
    kind: str | None
    count: int


class RoadChainSummary(_Available):
    total: int
    by_status: dict[str, int]
    by_kind: dict[str, int]
    by_status_and_kind: list[ReceiptCount]


class Receipt(ApiModel):
    id: Key
    user_id: Key | None = None
    kind: str | None = None
    status: str | None = None
    ref_hash: str | None = None
    value: Key | None = None
    meta_uri: str | None = None
    sig_algo: str | None = None
    chain_id: Key | None = None
    external_id: str | None = None
    explorer_url: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class ReceiptPage(_Available):
    items: list[Receipt]
    next_cursor: str | None = None


class MerkleRoot(ApiModel):
    day_key: Key
    root: str | None = None
    leaf_count: int | None = None
    created_at: str | None = None


class MerkleRootPage(_Available):
    items: list[MerkleRoot]
    next_cursor: str | None = None


class WebhookEntry(ApiModel):
    id: Key
    provider: str | None = None
    event_type: str | None = None
    received_at: str | None = None
    payload_bytes: int | None = Field(
        None, description="Size of the stored payload; the body itself is never returned."
    )


class WebhookPage(_Available):
    items: list[WebhookEntry]
    next_cursor: str | None = None


# --- Status ---------------------------------------------------------------------------------


class ReplicaSubscription(ApiModel):
    """One logical-replication subscription of the main database (PostgreSQL subscriber)."""

    name: str
    enabled: bool
    worker_running: bool = Field(description="Its apply worker is running now.")
    publications: list[str] = Field(default_factory=list)
    received_lsn: str | None = None
    latest_end_lsn: str | None = Field(None, description="Last WAL position reported back.")
    last_msg_send_time: UTCDateTime | None = None
    last_msg_receipt_time: UTCDateTime | None = None
    latest_end_time: UTCDateTime | None = None
    tables_syncing: int = Field(0, description="Tables still in their initial copy.")
    apply_errors: int | None = Field(None, description="Apply errors since the stats reset.")
    lag_seconds: float | None = Field(
        None,
        description="Seconds since the subscriber last heard from its publisher "
        "(pg_stat_subscription.last_msg_receipt_time); null while no worker runs.",
    )
    status: Literal["pass", "warn"]
    warning: str | None = None


class MainDbReplication(ApiModel):
    """The main database as a logical replica: its subscriptions and their lag."""

    subscriber: bool = Field(description="The main database has logical subscriptions.")
    max_lag_seconds: float
    status: Literal["pass", "warn"]
    subscriptions: list[ReplicaSubscription] = Field(default_factory=list)
    error: str | None = Field(None, description="Why the subscriptions could not be read.")


class MainDbStatus(ApiModel):
    configured: bool
    ok: bool
    latency_ms: float | None = None
    error: str | None = None
    timeout_ms: int | None = None
    tables: dict[str, list[str]] = Field(
        default_factory=dict, description="Tables and views the console can read, with columns."
    )
    replication: MainDbReplication | None = Field(
        None, description="Logical-replication subscriptions (PostgreSQL); null on SQLite."
    )
