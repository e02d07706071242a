"""The scopes a token can hold: the vocabulary the models, the configuration and auth share."""

from typing import Literal, get_args

# operate = read + the actions of an operator on call (SPEC §12): execute runbooks,
# acknowledge incidents, create and end silences. admin is everything.
TokenScope = Literal["read", "ingest", "operate", "admin"]
SCOPES: tuple[str, ...] = get_args(TokenScope)
