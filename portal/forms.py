"""Form parsing and validation (Flask-WTF); templates write the HTML themselves."""
import unicodedata

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from .usernames import MAX_LENGTH


class PortalForm(FlaskForm):
    """Fields come from the submitted form's text fields only: never from uploaded files or a
    JSON body (Flask-WTF's default), whose values are not strings. The CSRF token is not a
    field: CSRFProtect checks it on every POST before any view runs (checking it again here
    would only double the cost of every submission)."""

    class Meta(FlaskForm.Meta):
        csrf = False

        def wrap_formdata(self, form, formdata):
            if formdata is _Auto:
                return request.form if request.method in ("POST", "PUT", "PATCH", "DELETE") else None
            return formdata


def no_control_characters(form, field):
    if field.data and any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in field.data):
        raise ValidationError("Contiene caracteres no permitidos.")


class LoginForm(PortalForm):
    username = StringField("Usuario", validators=[DataRequired(), Length(max=MAX_LENGTH), no_control_characters])
    password = PasswordField("Contraseña", validators=[DataRequired(), Length(max=1024)])
    captcha = StringField("Texto de la imagen", validators=[Optional(), Length(max=32)])
    captcha_id = StringField("Reto", validators=[Optional(), Length(max=128)])  # the challenge on screen


class RecoveryForm(PortalForm):
    username = StringField("Usuario", validators=[Optional(), Length(max=MAX_LENGTH)])


class AnswerForm(PortalForm):
    answer = StringField("Respuesta", validators=[Optional(), Length(max=200)])


class ChangePasswordForm(PortalForm):
    new_password = PasswordField("Nueva contraseña", validators=[Optional()])
    confirm_password = PasswordField("Confirme la nueva contraseña", validators=[Optional()])
    question = StringField("Pregunta secreta", validators=[Optional()])
    answer = StringField("Respuesta", validators=[Optional()])
    email = StringField("Correo electrónico", validators=[Optional()])
