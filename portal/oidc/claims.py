"""What the portal tells a relying party about the person who signed in (the ID token and
the userinfo endpoint give the same claims):

sub                 a stable opaque id of the account: not the RFC, not the database id (an
                    HMAC of the id under a key the portal keeps for itself, which never rotates)
preferred_username  the canonical user name (SPEC section 4), e.g. CT.GOMA800101AB1
name                the name on record
email               the e-mail address on record
rfc                 the bare RFC, without the prefix of the kind of user
user_kind           customer, employee, free or supplier (SPEC section 4); "other" for a name
                    of no known kind
and in the ID token, also auth_time (when the person typed the password) and amr ["pwd"].
"""
import hashlib
import hmac

from authlib.oidc.core import UserInfo

from .. import stable_keys, usernames

AMR = ("pwd",)  # RFC 8176: a password


def subject_key():
    """The key of `sub` (made once, in a transaction of its own: on SQLite, ask for it before
    the request writes anything, or that transaction would wait for the request's)."""
    return stable_keys.get("oidc-subject")


def subject(user):
    key = subject_key()
    return hmac.new(key, f"user:{user.id}".encode(), hashlib.sha256).hexdigest()[:32]


def user_info(user):
    parsed = usernames.parse(user.username)
    return UserInfo(sub=subject(user), preferred_username=user.username, name=user.display_name or user.username,
                    email=user.email, rfc=parsed.rfc if parsed else None,
                    user_kind=parsed.kind if parsed else "other")
