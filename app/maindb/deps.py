"""FastAPI dependency for the main database held in app.state (None when not configured)."""

from typing import Annotated

from fastapi import Depends, Request

from app.maindb.database import MainDatabase


def get_main_db(request: Request) -> MainDatabase | None:
    """The app's MainDatabase, or None when PRISM_MAIN_DB_URL is unset."""
    main_db: MainDatabase | None = getattr(request.app.state, "main_db", None)
    return main_db


MainDbDep = Annotated[MainDatabase | None, Depends(get_main_db)]
