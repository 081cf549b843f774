"""The Jinja environment of the pages (autoescaped HTML) and the static files' version."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from segmint import __version__

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
# Static URLs carry the version, so browsers fetch new scripts after an upgrade.
templates.env.globals["asset_version"] = __version__
