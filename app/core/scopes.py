"""The scopes a token can hold: the vocabulary the models, the configuration and auth share."""

from typing import Literal, get_args

TokenScope = Literal["read", "ingest", "admin"]
SCOPES: tuple[str, ...] = get_args(TokenScope)
