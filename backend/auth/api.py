from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from backend.auth import service
from backend.auth.current import client_ip, login_required, require_actor
from backend.auth.schemas import LoginSchema, TokenSchema
from backend.core.db import commit
from backend.core.errors import Unauthorized
from backend.people.actors import load_actor
from backend.people.schemas import MeSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="登录与当前用户")


@blp.post("/auth/login")
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="用户名或密码错误 (invalid_credentials)")
@blp.alt_response(429, description="失败次数过多 (too_many_attempts)")
def login(args):
    """Sign in with username and password; returns a bearer token."""
    try:
        person = service.authenticate(args["username"], args["password"], client_ip())
    except Unauthorized:
        commit()  # keep the recorded failure: it feeds the rate limit
        raise
    secret, token = service.issue_token(person, "bearer")
    commit()
    g.actor = load_actor(person.id)
    return {"token": secret, "expires_at": token.expires_at, "user": g.actor.person}


@blp.post("/auth/logout")
@blp.response(204)
@login_required
def logout():
    """Revoke the token (or H5 session) this request was made with."""
    service.revoke(g.auth_token)
    commit()


@blp.get("/me")
@blp.response(200, MeSchema)
@login_required
def me():
    """The signed-in person with their roles per org."""
    return require_actor().person

