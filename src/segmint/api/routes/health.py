"""Liveness: the process answers and the database is reachable; how the columnar index stands."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from segmint.index import indexes_for

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and database reachability")
def healthz(request: Request) -> JSONResponse:
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else "unreachable"
        return JSONResponse({"status": "error", "database": reason}, status_code=503)
    indexes = indexes_for(request.app.state.engine)
    index = indexes.status() if indexes is not None else {"enabled": False}
    return JSONResponse({"status": "ok", "database": "ok", "index": index})
