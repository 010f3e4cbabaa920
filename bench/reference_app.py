"""The two references bench/run.py compares the portal with, each served by gunicorn like
the portal (gunicorn.conf.py, 2 workers):

- page_app: a bare Flask app rendering a small Jinja template (templates/reference.html);
- bcrypt_app: a bare endpoint doing one bcrypt check, at the portal's cost 12, of the posted
  password against a stored hash.
"""
import os

import bcrypt
from flask import Flask, render_template, request

HERE = os.path.dirname(os.path.abspath(__file__))
LINKS = [("Servicio gratuito", "/gratuito"), ("Registro en línea", "/registro"),
         ("Preguntas frecuentes", "/preguntas"), ("Manual de usuario", "/manual")]

page_app = Flask(__name__, template_folder=os.path.join(HERE, "templates"))


@page_app.get("/")
def page():
    return render_template("reference.html", title="e-Factura Acceso", links=LINKS)


bcrypt_app = Flask(__name__)


# bcrypt.hashpw(b"Factura.2026", bcrypt.gensalt(12)), made once: stored, like an account's.
STORED_HASH = b"$2b$12$0bHXR0HwjhoEE0zEeahureK53joE7.qAXSQc6nB4hnlntVtZOmeGy"


@bcrypt_app.post("/")
def check():
    matches = bcrypt.checkpw(request.form.get("password", "").encode(), STORED_HASH)
    return "si" if matches else "no"
