"""The console's customer desk: find a customer, see the account, act on it (each action a
confirm step with what will happen and a required reason, then a POST)."""
from flask import Blueprint, abort, flash, request, url_for

from .. import accounts, clock, customer_record, support_actions
from ..extensions import client_address
from ..htmx import redirect_to, render, target
from . import console_access
from .console_access import staff_only

bp = Blueprint("console_customers", __name__, url_prefix="/soporte/clientes")
console_access.init_blueprint(bp)
PAGE = "console.html"
STATE_WORDS = {customer_record.ACTIVE: "Activa", customer_record.LOCKED: "Bloqueada por intentos fallidos",
               customer_record.INACTIVE: "Inactiva (bloqueo por inactividad)",
               customer_record.DISABLED: "Deshabilitada", customer_record.SETUP: "Primer ingreso pendiente"}


@bp.get("")
@staff_only()
def search():
    """The search form; with ?q=, the results below it (htmx: the results alone)."""
    typed = (request.args.get("q") or "").strip()
    number = customer_record.page_number(request.args.get("pagina"))
    results = customer_record.search(typed, number) if typed else None
    fragment = "console/results" if target() == "results" else "console/search"
    return render(fragment, template=PAGE, page="console/search", title="Clientes", q=typed, results=results,
                  state_of=customer_record.state, state_words=STATE_WORDS,
                  url=url_for("console_customers.search", q=typed or None, pagina=number if number > 1 else None))


def _customer_or_404(user_id):
    user = customer_record.customer(user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/<int:user_id>")
@staff_only()
def show(user_id):
    user = _customer_or_404(user_id)
    kind = (request.args.get("tipo") or "")[:40]
    outcome = (request.args.get("resultado") or "")[:40]
    events = customer_record.events(user, customer_record.page_number(request.args.get("pagina")), kind, outcome)
    state = customer_record.state(user)
    return render("console/customer", template=PAGE, title=f"Cliente {user.username}", user=user, state=state,
                  state_words=STATE_WORDS, events=events, kind=kind, outcome=outcome,
                  event_kinds=customer_record.EVENT_KINDS, notices=customer_record.notices(user),
                  actions=support_actions.available(user, state.key), local=clock.local)


@bp.get("/<int:user_id>/<action>")
@staff_only()
def confirm(user_id, action):
    user = _customer_or_404(user_id)
    chosen = support_actions.ACTIONS.get(action) or abort(404)
    return _confirm_page(user, chosen)


def _confirm_page(user, chosen, error=None, reason="", new_email=""):
    return render("console/confirm", template=PAGE, title=chosen.title, user=user, action=chosen, error=error,
                  reason=reason, new_email=new_email,
                  token=console_access.confirmation(chosen.key, user.id))


@bp.post("/<int:user_id>/<action>")
@staff_only()
def act(user_id, action):
    user = _customer_or_404(user_id)
    chosen = support_actions.ACTIONS.get(action) or abort(404)
    reason = (request.form.get("reason") or "").strip()
    new_email = (request.form.get("new_email") or "").strip()
    if not console_access.confirmed(chosen.key, user.id, request.form.get("confirmation")):
        return _confirm_page(user, chosen, "Confirme la acción en esta página (la confirmación venció o no "
                                           "corresponde a esta cuenta).", reason, new_email)
    problem = support_actions.reason_problem(reason)
    if problem is None and chosen.needs_email:
        if not accounts.valid_email(new_email):
            problem = "Escriba un correo electrónico válido, por ejemplo nombre@empresa.com.mx."
        elif new_email == user.email:
            problem = "Ese ya es el correo registrado."
    if problem:
        return _confirm_page(user, chosen, problem, reason, new_email)
    message = support_actions.perform(chosen.key, user, console_access.agent(), reason, client_address(),
                                      new_email=new_email or None)
    flash(message)
    return redirect_to("console_customers.show", user_id=user.id)
