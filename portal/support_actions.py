"""What a support agent does to a customer's account from the console (SPEC section 8), each
recorded with the agent and the reason (AuthEvent.detail: agent, reason). The same rules as
the `users` CLI (accounts.unlock, accounts.disable/enable, coded_link.send); support never
sees or sets a password or a secret answer. No HTML, no request.
"""
from dataclasses import dataclass

from . import account_changes, accounts, audit, clock, coded_link, lockout
from .extensions import db
from .oidc import tokens as oidc_tokens

MAX_REASON = 500


@dataclass(frozen=True)
class Action:
    key: str
    title: str        # the button and the confirm step's heading
    effect: str       # what will happen, said on the confirm step
    needs_email: bool = False


ACTIONS = {action.key: action for action in (
    Action("desbloquear", "Desbloquear",
           "Se borran los intentos fallidos y se levanta el bloqueo por intentos y el de inactividad: "
           "el cliente puede entrar con su contraseña desde ahora."),
    Action("deshabilitar", "Deshabilitar",
           "La cuenta no podrá entrar aunque use la contraseña correcta, y sus sesiones abiertas se cierran ahora."),
    Action("habilitar", "Habilitar", "La cuenta podrá volver a entrar con su contraseña."),
    Action("enlace", "Enviar enlace de recuperación",
           "Se envía un enlace de un solo uso al correo registrado; los enlaces anteriores dejan de servir. "
           "Usted no verá el enlace."),
    Action("correo", "Cambiar el correo",
           "El correo registrado se reemplaza por el nuevo; se avisa a la dirección anterior y a la nueva, "
           "y los enlaces de recuperación pendientes dejan de servir.", needs_email=True),
    Action("pregunta", "Borrar la pregunta secreta",
           "Se borran la pregunta secreta y su respuesta; en su próximo ingreso el cliente elegirá una nueva "
           "(y una contraseña nueva). Se avisa al cliente por correo."),
)}


def available(user, state_key):
    """The actions that make sense for the account now."""
    keys = ["desbloquear", "habilitar" if user.disabled else "deshabilitar", "correo"]
    if user.email and not user.disabled:
        keys.insert(2, "enlace")
    if user.secret_question is not None:
        keys.append("pregunta")
    return [ACTIONS[key] for key in keys]


def reason_problem(reason):
    reason = (reason or "").strip()
    if len(reason) < 5:
        return "Escriba el motivo (por ejemplo, el número de ticket o lo que pidió el cliente)."
    if len(reason) > MAX_REASON:
        return f"El motivo puede tener hasta {MAX_REASON} caracteres."
    return None


def perform(key, user, agent, reason, client_ip, new_email=None):
    """Carry out an action (committed, audited); the message for the agent."""
    detail = {"agent": agent, "reason": reason.strip()}
    if key == "desbloquear":
        accounts.unlock(user.username, client_ip, **detail)
        return f"Cuenta {user.username} desbloqueada."
    if key == "deshabilitar":
        revoked = oidc_tokens.revoke_user(user)  # the applications' tokens, in the same transaction
        accounts.disable(user, client_ip, tokens_revoked=revoked, **detail)
        return f"Cuenta {user.username} deshabilitada; sus sesiones se cerraron."
    if key == "habilitar":
        accounts.enable(user, client_ip, **detail)
        return f"Cuenta {user.username} habilitada."
    if key == "enlace":
        coded_link.send(user, client_ip)
        audit.record("link_issued", user.username, "ok", client_ip, **detail)
        db.session.commit()
        return f"Se envió un enlace de recuperación a {user.email}."
    if key == "correo":
        previous = user.email
        user.email = new_email
        coded_link.void_all(user, clock.now())
        if previous and previous != new_email:
            account_changes.notice(user, "email_changed", client_ip, address=previous, new_email=new_email)
        account_changes.notice(user, "email_registered", client_ip, address=new_email)
        audit.record("email_changed", user.username, "ok", client_ip, via="support", **detail)
        db.session.commit()
        return f"El correo de {user.username} es ahora {new_email}; se avisó a ambas direcciones."
    if key == "pregunta":
        user.secret_question = user.answer_hash = None
        lockout.reopen_answers(user.username)
        if user.email:
            account_changes.notice(user, "question_cleared", client_ip)
        audit.record("question_cleared", user.username, "ok", client_ip, **detail)
        db.session.commit()
        return f"Se borró la pregunta secreta de {user.username}; elegirá una nueva en su próximo ingreso."
    raise KeyError(key)
