"""A local SMTP server (aiosmtpd) for mailto:// tests: no TLS, optional AUTH, on 127.0.0.1.

Mail never leaves the machine: the handler keeps each message it is handed. `wait_for`
blocks on a condition until that many arrived.
"""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.waits import WAIT


@dataclass(frozen=True)
class Mail:
    sender: str
    recipients: list[str]
    message: Message

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def text(self) -> str:
        """The subject and every text part, decoded."""
        parts = [self.subject]
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    parts.append(payload.decode(part.get_content_charset() or "utf-8"))
        return "\n".join(parts)


@dataclass
class MailServer:
    port: int = 0
    mails: list[Mail] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def url(self, *, user: str | None = None, password: str | None = None) -> str:
        """A mailto:// URL for this server: plain SMTP, from and to on example.com."""
        auth = f"{user}:{password}@" if user else ""
        return (
            f"mailto://{auth}127.0.0.1:{self.port}"
            "?from=prism@example.com&to=ops@example.com&mode=insecure"
        )

    def wait_for(self, count: int, timeout: float = WAIT) -> list[Mail]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.mails) >= count, timeout=timeout):
                raise AssertionError(f"{count} mails expected, {len(self.mails)} arrived")
            return list(self.mails)

    def _add(self, mail: Mail) -> None:
        with self._changed:
            self.mails.append(mail)
            self._changed.notify_all()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def mail_server(*, user: str | None = None, password: str | None = None) -> Iterator[MailServer]:
    """Serve SMTP on a free loopback port; with `user`, AUTH is offered over plain SMTP
    (not required: aiosmtpd warns about requiring it without TLS) and `logins` records
    who signed in, so a test can tell an authenticated delivery."""
    state = MailServer()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            state._add(
                Mail(
                    sender=envelope.mail_from,
                    recipients=list(envelope.rcpt_tos),
                    message=message_from_bytes(envelope.original_content or envelope.content),
                )
            )
            return "250 Message accepted for delivery"

    def authenticator(
        _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = data.login.decode() == user and data.password.decode() == password
        if ok:
            state.logins.append(data.login.decode())
        return AuthResult(success=ok)

    options: dict[str, Any] = {}
    if user is not None:
        options.update(authenticator=authenticator, auth_require_tls=False)
    state.port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=state.port, **options)
    controller.start()
    try:
        yield state
    finally:
        controller.stop()
