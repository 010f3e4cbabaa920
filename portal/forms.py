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
CONFIRMATION_DIFFERS = "La confirmación no coincide con la nueva contraseña."


def new_password_problem(user, new_password, confirmation):
    """What is wrong with a new password and its confirmation, or None."""
    if len(new_password or "") > policy.MAX_LENGTH:
        return f"{POLICY_UNMET} Como máximo {policy.MAX_LENGTH} caracteres: la que escribió tiene {len(new_password)}."
    rules = policy.checklist(new_password or "", user.username, confirmation or "")
    if not all(rule.met for rule in rules if rule.key != "confirmed"):
        return POLICY_UNMET
    if not all(rule.met for rule in rules):
        return CONFIRMATION_DIFFERS
    return None


def question_problem(question):
    if not (question or "").strip():
        return "Elija una pregunta secreta."
    if question.strip() not in secret_question.QUESTIONS:
        return "Elija una de las preguntas secretas de la lista."
    return None


def answer_problem(answer):
    if len(secret_question.normalise_answer(answer or "")) < secret_question.MIN_ANSWER:
        return "La respuesta secreta debe tener al menos 3 letras o números."
    if len(answer) > secret_question.MAX_ANSWER:
        return "La respuesta secreta puede tener hasta 200 caracteres."
    return None


def email_problem(email):
    if not accounts.valid_email(email):
        return "Escriba un correo electrónico válido, por ejemplo nombre@empresa.com.mx."
    return None


def _raise(problem):
    if problem:
        raise ValidationError(problem)


class Problems:
    def problems(self):
        """Every message of a failed validate(), in the order of the form."""
        return [message for messages in self.errors.values() for message in messages]


class ChangePasswordForm(Problems, Form):
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
        _raise(new_password_problem(self.user, field.data, self.confirm_password.data))
        if self.setup and passwords.verify(field.data, self.user.password_hash):
            raise ValidationError("La nueva contraseña debe ser distinta de la actual.")

    def validate_question(self, field):
        if self.changes_answer:
            _raise(question_problem(field.data))

    def validate_answer(self, field):
        if self.changes_answer:
            _raise(answer_problem(field.data))

    def validate_email(self, field):
        _raise(email_problem(field.data))

    def change(self):
        return Change(new_password=self.new_password.data or "", email=self.email.data or "",
                      question=(self.question.data or "") if self.changes_answer else None,
                      answer=(self.answer.data or "") if self.changes_answer else None)


# The account page (views/account.py): each form validates what it changes.

class ConfirmPasswordForm(Form):
    current_password = PasswordField("Contraseña actual", validators=[DataRequired("Escriba su contraseña."),
                                                                    Length(max=1024)])


class AccountPasswordForm(Problems, Form):
    current_password = PasswordField("Contraseña actual", validators=[DataRequired("Escriba su contraseña actual."),
                                                                    Length(max=1024)])
    new_password = PasswordField("Nueva contraseña")
    confirm_password = PasswordField("Confirme la nueva contraseña")

    def __init__(self, formdata=None, user=None):
        super().__init__(formdata)
        self.user = user

    def validate_new_password(self, field):
        _raise(new_password_problem(self.user, field.data, self.confirm_password.data))


class QuestionForm(Problems, Form):
    question = StringField("Pregunta secreta")
    answer = StringField("Respuesta secreta")

    def validate_question(self, field):
        _raise(question_problem(field.data))

    def validate_answer(self, field):
        _raise(answer_problem(field.data))


class EmailForm(Problems, Form):
    email = StringField("Correo electrónico", filters=[_stripped])

    def validate_email(self, field):
        _raise(email_problem(field.data))
