"""FastAPI dependencies of the live updates: the broadcaster, and the publisher a writing
route uses (its messages go out after its commit)."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import event
from sqlmodel import Session

from app.core.db import RequestSession
from app.core.deps import SessionDep
from app.live.broadcaster import Broadcaster, Message, Publisher


async def get_broadcaster(request: Request) -> Broadcaster:
    broadcaster: Broadcaster = request.app.state.broadcaster
    return broadcaster


class CommittedPublisher:
    """The live stream as a request's writes see it: messages go out once the request's
    transaction has committed, and never when it rolls back.

    The request session commits after the answer is serialized (RequestSession), so a
    message published by the endpoint would otherwise describe a row that other readers
    cannot see yet, or one that is never committed at all.
    """

    def __init__(self, broadcaster: Broadcaster, session: Session) -> None:
        self._broadcaster = broadcaster
        self._session = session
        self._pending: list[Message] = []

    @property
    def has_audience(self) -> bool:
        return self._broadcaster.has_audience

    def publish(self, message: Message) -> None:
        if not (isinstance(self._session, RequestSession) and self._session.deferring):
            self._broadcaster.publish(message)
            return
        if not self._pending:
            event.listen(self._session, "after_commit", self._release, once=True)
        self._pending.append(message)

    def _release(self, _session: Session) -> None:
        pending, self._pending = self._pending, []
        for message in pending:
            self._broadcaster.publish(message)


BroadcasterDep = Annotated[Broadcaster, Depends(get_broadcaster)]


async def get_publisher(broadcaster: BroadcasterDep, session: SessionDep) -> Publisher:
    return CommittedPublisher(broadcaster, session)


PublisherDep = Annotated[Publisher, Depends(get_publisher)]
"""For routes that write: what they publish reaches the stream after their commit."""
