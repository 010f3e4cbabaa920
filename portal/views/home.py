"""The signed-in home page and sign-out."""
from datetime import datetime

from flask import Blueprint, flash, g, redirect, render_template, session, url_for

from .. import audit, clock, sessions
from ..extensions import client_address

bp = Blueprint("home", __name__)


@bp.get("/inicio")
def index():
    if g.user is None:
        if g.get("session_ended"):
            flash("Su sesión terminó. Vuelva a escribir su usuario y contraseña.")
        return redirect(url_for("access.index"))
    if g.user.secret_question is None:
        return redirect(url_for("password_change.change_password"))
    at, ip = session.get("previous_login") or (None, None)
    previous = clock.local(datetime.fromisoformat(at)) if at else None
    return render_template("home.html", user=g.user, previous_at=previous, previous_ip=ip,
                           now=clock.local(clock.now()))


@bp.post("/salir")
def logout():
    if g.user is not None:
        audit.record("logout", g.user.username, "ok", client_address())
        sessions.end(g.user)
    flash("Salió de e-Factura Acceso.")
    return redirect(url_for("access.index"), 303)
