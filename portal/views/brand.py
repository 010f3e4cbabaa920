"""The brand of the content file that pages load: its colours as CSS custom properties, and
the files an operator puts in the instance folder's marca/ (a logo, say)."""
from pathlib import Path

from flask import Blueprint, current_app, make_response, render_template, send_from_directory

from .. import content
from ..extensions import limiter

bp = Blueprint("brand", __name__)


@bp.get("/marca.css")
@limiter.exempt
def colours():
    response = make_response(render_template("brand.css", brand=content.brand()))
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = "public, max-age=3600"  # its address changes with the content file
    return response


@bp.get("/marca/<path:filename>")
@limiter.exempt
def file(filename):
    response = send_from_directory(Path(current_app.instance_path) / "marca", filename)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
