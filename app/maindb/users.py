"""Main API users, their wallets, balances and transactions.

The users table also holds `password_hash` (and `settings`): neither is in any column list
here, and reflection drops `password_hash` from the table object altogether.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, not_, or_, select

from app.core.errors import NotFoundError
from app.core.pagination import Cursor, encode_cursor
from app.maindb.convert import to_bool, to_id, to_iso, to_key, to_money, to_text
from app.maindb.database import MainDatabase, read_main
from app.maindb.query import NewestFirst, contains, key_for, page, param, params, time_window
from app.maindb.reader import MainDbReader
from app.maindb.reflection import MainTable, PanelUnavailableError
from app.maindb.schemas import (
    MainUser,
    Transaction,
    TransactionPage,
    Unavailable,
    UserDetail,
    UserPage,
    UserWallets,
    Wallet,
)

Direction = Literal["in", "out", "internal"]

USER_COLUMNS = ("id", "email", "name", "role", "is_active", "last_login_at", "created_at")
WALLET_COLUMNS = ("id", "owner_type", "owner_id", "balance", "created_at")
TRANSACTION_COLUMNS = ("id", "wallet_from", "wallet_to", "amount", "memo", "created_at")
RECENT_TRANSACTIONS = 20
# A user with more wallets than this is not a person; the list stops there.
MAX_WALLETS = 1000


@dataclass(frozen=True)
class UserQuery:
    q: str | None = None
    role: str | None = None
    active: bool | None = None


@dataclass(frozen=True)
class TransactionQuery:
    direction: Direction | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_users(
    *, main_db: MainDatabase | None, query: UserQuery, limit: int = 100, cursor: Cursor | None
) -> UserPage | Unavailable:
    """Users newest first, filtered by text (email or name), role and active flag."""

    def work(reader: MainDbReader) -> UserPage:
        users = reader.table("users", "id")
        statement = select(*users.pick(USER_COLUMNS))
        if query.q:
            # Whichever of email and name exist; neither → the panel names the missing one.
            fields = [name for name in ("email", "name") if users.has(name)] or ["email"]
            statement = statement.where(or_(*(contains(users.col(n), query.q) for n in fields)))
        if query.role is not None:
            statement = statement.where(users.col("role") == param(query.role))
        if query.active is not None:
            statement = statement.where(users.col("is_active") == param(query.active))
        rows, next_cursor = page(
            reader, statement, NewestFirst.of(users), cursor=cursor, limit=limit
        )
        return UserPage(
            items=[_user(row) for row in rows],
            next_cursor=encode_cursor(next_cursor) if next_cursor else None,
        )

    return read_main(main_db, work)


def user_detail(
    *, main_db: MainDatabase | None, user_id: str, recent: int = RECENT_TRANSACTIONS
) -> UserDetail | Unavailable:
    """A user with their wallets, total balance and latest transactions; 404 if unknown."""

    def work(reader: MainDbReader) -> UserDetail:
        users = reader.table("users", "id")
        user = _find_user(reader, users, user_id)
        wallets: UserWallets | Unavailable
        transactions: TransactionPage | Unavailable
        try:
            rows = _wallets_of(reader, user["id"])
            wallets = UserWallets(
                items=[_wallet(row) for row in rows],
                total_balance=_money_sum(row.get("balance") for row in rows),
            )
        except PanelUnavailableError as exc:
            # Without wallets there is no way to tell whose transactions are whose.
            unavailable = Unavailable(reason=exc.reason)
            return UserDetail(user=_user(user), wallets=unavailable, transactions=unavailable)
        try:
            wallet_ids = [row["id"] for row in rows]
            transactions = _transactions(reader, wallet_ids, TransactionQuery(), recent, None)
        except PanelUnavailableError as exc:
            transactions = Unavailable(reason=exc.reason)
        return UserDetail(user=_user(user), wallets=wallets, transactions=transactions)

    return read_main(main_db, work)


def user_transactions(
    *,
    main_db: MainDatabase | None,
    user_id: str,
    query: TransactionQuery,
    limit: int = 100,
    cursor: Cursor | None = None,
) -> TransactionPage | Unavailable:
    """Transactions from or to any of the user's wallets, newest first; 404 if unknown."""

    def work(reader: MainDbReader) -> TransactionPage:
        users = reader.table("users", "id")
        user = _find_user(reader, users, user_id)
        wallet_ids = [row["id"] for row in _wallets_of(reader, user["id"])]
        return _transactions(reader, wallet_ids, query, limit, cursor)

    return read_main(main_db, work)


def _find_user(reader: MainDbReader, users: MainTable, user_id: str) -> Any:
    key = key_for(users, "id", user_id)
    row = None
    if key is not None:
        row = reader.first(select(*users.pick(USER_COLUMNS)).where(users.col("id") == param(key)))
    if row is None:
        raise NotFoundError("User not found in the main database")
    return row


def _wallets_of(reader: MainDbReader, user_id: Any) -> list[Any]:
    wallets = reader.table("wallets", "id", "owner_id")
    owner = key_for(wallets, "owner_id", user_id)
    if owner is None:
        return []
    statement = select(*wallets.pick(WALLET_COLUMNS)).where(wallets.col("owner_id") == param(owner))
    if wallets.has("owner_type"):
        statement = statement.where(wallets.col("owner_type") == param("user"))
    return reader.rows(statement.order_by(wallets.col("id")).limit(MAX_WALLETS))


def _transactions(
    reader: MainDbReader,
    wallet_ids: list[Any],
    query: TransactionQuery,
    limit: int,
    cursor: Cursor | None,
) -> TransactionPage:
    table = reader.table("transactions", "id", "wallet_from", "wallet_to")
    if not wallet_ids:
        return TransactionPage(items=[])
    statement = select(*table.pick(TRANSACTION_COLUMNS)).where(
        _direction_filter(table, wallet_ids, query.direction)
    )
    statement = time_window(
        statement, table, "created_at", query.since, query.until, reader.dialect
    )
    rows, next_cursor = page(reader, statement, NewestFirst.of(table), cursor=cursor, limit=limit)
    own = {str(wallet_id) for wallet_id in wallet_ids}
    return TransactionPage(
        items=[_transaction(row, own) for row in rows],
        next_cursor=encode_cursor(next_cursor) if next_cursor else None,
    )


def _direction_filter(
    table: MainTable, wallet_ids: list[Any], direction: Direction | None
) -> ColumnElement[bool]:
    source: Any = table.col("wallet_from")
    target: Any = table.col("wallet_to")
    sent = source.in_(params(wallet_ids))
    received = target.in_(params(wallet_ids))
    if direction == "in":
        return and_(received, or_(source.is_(None), not_(source.in_(params(wallet_ids)))))
    if direction == "out":
        return and_(sent, not_(target.in_(params(wallet_ids))))
    if direction == "internal":
        return and_(sent, received)
    return or_(sent, received)


def _user(row: Any) -> MainUser:
    return MainUser(
        id=to_key(row["id"]),
        email=to_text(row.get("email")),
        name=to_text(row.get("name")),
        role=to_text(row.get("role")),
        is_active=to_bool(row.get("is_active")),
        last_login_at=to_iso(row.get("last_login_at")),
        created_at=to_iso(row.get("created_at")),
    )


def _wallet(row: Any) -> Wallet:
    return Wallet(
        id=to_key(row["id"]),
        owner_type=to_text(row.get("owner_type")),
        balance=to_money(row.get("balance")),
        created_at=to_iso(row.get("created_at")),
    )


def _transaction(row: Any, own: set[str]) -> Transaction:
    source, target = row.get("wallet_from"), row.get("wallet_to")
    sent = source is not None and str(source) in own
    received = target is not None and str(target) in own
    direction: Direction = "internal" if sent and received else "out" if sent else "in"
    return Transaction(
        id=to_key(row["id"]),
        wallet_from=to_id(source),
        wallet_to=to_id(target),
        amount=to_money(row.get("amount")),
        memo=to_text(row.get("memo")),
        created_at=to_iso(row.get("created_at")),
        direction=direction,
    )


def _money_sum(values: Any) -> int | str:
    total = Decimal(0)
    for value in values:
        if value is None:
            continue
        try:
            total += Decimal(str(value))
        except InvalidOperation:
            continue
    exact = to_money(total)
    return 0 if exact is None else exact
