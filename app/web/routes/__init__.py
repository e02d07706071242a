"""Every HTML router (include_in_schema=False: the OpenAPI document is the JSON API's)."""

from fastapi import APIRouter

from app.web.routes import auth

WEB_ROUTERS: list[APIRouter] = [auth.router]
