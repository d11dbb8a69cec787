"""The bare endpoint bench/intake.py measures beside the registry: the same path on FastAPI and
uvicorn (httptools, uvloop, the same worker count), which reads the dossier, parses its JSON and
answers 201 with a short JSON, and does nothing else. What it reaches is the ceiling the HTTP
stack and the client leave on this machine before any verification or storage."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/api/v1/registry/submissions")
async def submit(request: Request) -> JSONResponse:
    dossier = json.loads(await request.body())
    return JSONResponse({"status": "received", "fields": len(dossier)}, status_code=201)


@app.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})
