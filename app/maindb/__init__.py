"""The read-only side: the main API's database, its own engine, metadata and reader type.

Services here take a MainDatabase (or None when unconfigured) and return a view model or
`Unavailable(reason)`; they never raise for a missing table, a slow or an absent database.
"""

from app.maindb.database import (
    NOT_CONFIGURED,
    MainDatabase,
    MainDbCheck,
    WriteProbe,
    create_main_database,
    read_main,
)
from app.maindb.reader import MainDbReader
from app.maindb.schemas import Unavailable

__all__ = [
    "NOT_CONFIGURED",
    "MainDatabase",
    "MainDbCheck",
    "MainDbReader",
    "Unavailable",
    "WriteProbe",
    "create_main_database",
    "read_main",
]
