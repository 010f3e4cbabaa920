"""CAPTCHA: a fresh challenge ("No entiendo el texto"), its image and its audio."""
from flask import Blueprint, abort, current_app, make_response, render_template, request, session

from .. import captcha, captcha_audio
from ..extensions import limit, limiter
from ..htmx import render

bp = Blueprint("captcha", __name__, url_prefix="/captcha")


@bp.route("/nuevo", methods=["GET", "POST"])
@limiter.limit(limit("RATELIMIT_CAPTCHA"))
def refresh():
    """A new challenge, carried by the form (a hidden field): the session is left alone.
    Without JavaScript «No entiendo el texto» posts the login form here: the page comes back
    with the user name that was typed (the password never comes back)."""
    typed = request.form.get("username") if request.method == "POST" else None
    return render("captcha", page="login-form", username=typed if typed is not None else session.get("login_name", ""),
                  captcha_id=captcha.new_challenge())


@bp.get("/<challenge_id>.png")
@limiter.limit(limit("RATELIMIT_CAPTCHA"))
def image(challenge_id):
    return _media(captcha.image(challenge_id), "image/png")


@bp.get("/<challenge_id>.wav")
@limiter.limit(limit("RATELIMIT_CAPTCHA_AUDIO"))
def audio(challenge_id):
    try:
        sound = captcha.audio(challenge_id)
    except captcha_audio.Unavailable as error:
        # espeak-ng missing or failing: the image still works; say so, keep nothing.
        current_app.logger.error("CAPTCHA audio unavailable: %s", error)
        return render_template("error.html", status=503, unavailable="audio"), 503
    return _media(sound, "audio/wav")


def _media(data, mimetype):
    if data is None:
        abort(404)
    response = make_response(data)
    response.mimetype = mimetype
    return response
