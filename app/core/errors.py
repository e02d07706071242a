"""Domain errors: services raise these, the app maps each to a status code and a JSON detail."""


class PrismError(Exception):
    """Base of every error a service raises on purpose."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigError(PrismError):
    """The configuration cannot work (bad URL, missing setting); fatal at start-up."""

    status_code = 500


class NotFoundError(PrismError):
    status_code = 404


class ConflictError(PrismError):
    status_code = 409


class InvalidInputError(PrismError):
    """Input passed the schema but breaks a rule (e.g. JSON Schema of a runbook)."""

    status_code = 400


class UnprocessableError(PrismError):
    status_code = 422


class UnavailableError(PrismError):
    """A dependency is down or locked; the client may retry after a short wait."""

    status_code = 503
    retry_after_seconds = 5


class InvalidCursorError(UnprocessableError):
    """A `cursor` the API did not hand out: forged, truncated or from another list."""

    def __init__(self) -> None:
        super().__init__("cursor: not a cursor returned by this API")
