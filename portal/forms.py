"""Form parsing and validation (WTForms); templates write the HTML themselves.

Forms are plain WTForms forms, fed by the views with the submitted form's text fields
(`request.form`): never with uploaded files or a JSON body, whose values are not strings. The
CSRF token is not a field: CSRFProtect checks it on every POST before any view runs.
"""
import unicodedata

from wtforms import Form, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from . import accounts, passwords, policy, secret_question, usernames
from .password_change import Change


def no_control_characters(form, field):
    if field.data and any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in field.data):
        raise ValidationError("Contiene caracteres no permitidos.")


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(Form):
    username = StringField("Usuario", validators=[DataRequired(), Length(max=usernames.MAX_LENGTH),
                                                  no_control_characters])
    password = PasswordField("Contraseña", validators=[DataRequired(), Length(max=1024)])
    captcha = StringField("Texto de la imagen", validators=[Optional(), Length(max=32)])
    captcha_id = StringField("Reto", validators=[Optional(), Length(max=128)])  # the challenge on screen

    def problem(self):
        """After a failed validate(): which message the error box shows."""
        if not self.username.data or not self.password.data:
            return "missing"
        return "captcha" if self.captcha.errors else "invalid"


class RecoveryForm(Form):
    username = StringField("Usuario")
    shape = None  # the user name's shape (usernames.Shape), once validated

    def validate_username(self, field):
        self.shape = usernames.check_shape(field.data)
        if self.shape.canonical is None:
            raise ValidationError(self.shape.problem)


class AnswerForm(Form):
    answer = StringField("Respuesta", validators=[DataRequired(), Length(max=secret_question.MAX_ANSWER)])
    captcha = StringField("Texto de la imagen", validators=[Optional(), Length(max=32)])
    captcha_id = StringField("Reto", validators=[Optional(), Length(max=128)])


POLICY_UNMET = "La nueva contraseña no cumple todos los requisitos de la lista."


class ChangePasswordForm(Form):
    """The change-password step. The question and answer are checked only while they change
    (`change_answer`, or always when the account must choose them: asks_question).

    Only the first sign-in set-up (setup: signed in with that very password a moment ago) says
    that the new password must differ from the current one; after a recovery proof no answer
    depends on the current password, which the person has not shown to know."""

    new_password = PasswordField("Nueva contraseña")
    confirm_password = PasswordField("Confirme la nueva contraseña")
    change_answer = HiddenField()
    question = StringField("Pregunta secreta")
    answer = StringField("Respuesta")
    email = StringField("Correo electrónico", filters=[_stripped])

    def __init__(self, formdata=None, user=None, asks_question=False, setup=False):
        super().__init__(formdata)
        self.user, self.setup = user, setup
        self.changes_answer = asks_question or self.change_answer.data == "1"

    def validate_new_password(self, field):
        if not policy.acceptable(field.data or "", self.user.username, self.confirm_password.data or ""):
            raise ValidationError(POLICY_UNMET)
        if self.setup and passwords.verify(field.data, self.user.password_hash):
            raise ValidationError("La nueva contraseña debe ser distinta de la actual.")

    def validate_question(self, field):
        if not self.changes_answer:
            return
        if not (field.data or "").strip():
            raise ValidationError("Elija una pregunta secreta.")
        if field.data.strip() not in secret_question.QUESTIONS:
            raise ValidationError("Elija una de las preguntas secretas de la lista.")

    def validate_answer(self, field):
        if not self.changes_answer:
            return
        if len(secret_question.normalise_answer(field.data or "")) < secret_question.MIN_ANSWER:
            raise ValidationError("La respuesta secreta debe tener al menos 3 letras o números.")
        if len(field.data) > secret_question.MAX_ANSWER:
            raise ValidationError("La respuesta secreta puede tener hasta 200 caracteres.")

    def validate_email(self, field):
        if not accounts.valid_email(field.data):
            raise ValidationError("Escriba un correo electrónico válido, por ejemplo nombre@empresa.com.mx.")

    def problems(self):
        """Every message of a failed validate(), in the order of the form."""
        return [message for messages in self.errors.values() for message in messages]

    def change(self):
        return Change(new_password=self.new_password.data or "", email=self.email.data or "",
                      question=(self.question.data or "") if self.changes_answer else None,
                      answer=(self.answer.data or "") if self.changes_answer else None)
