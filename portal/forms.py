"""Form parsing and validation (Flask-WTF); templates write the HTML themselves."""
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from .usernames import MAX_LENGTH


class LoginForm(FlaskForm):
    username = StringField("Usuario", validators=[DataRequired(), Length(max=MAX_LENGTH)])
    password = PasswordField("Contraseña", validators=[DataRequired(), Length(max=1024)])
    captcha = StringField("Texto de la imagen", validators=[Optional(), Length(max=32)])


class RecoveryForm(FlaskForm):
    username = StringField("Usuario", validators=[Optional(), Length(max=MAX_LENGTH)])


class AnswerForm(FlaskForm):
    answer = StringField("Respuesta", validators=[Optional(), Length(max=200)])


class ChangePasswordForm(FlaskForm):
    new_password = PasswordField("Nueva contraseña", validators=[Optional()])
    confirm_password = PasswordField("Confirme la nueva contraseña", validators=[Optional()])
    question = StringField("Pregunta secreta", validators=[Optional()])
    answer = StringField("Respuesta", validators=[Optional()])
    email = StringField("Correo electrónico", validators=[Optional()])
