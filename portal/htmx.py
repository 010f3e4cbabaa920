"""The one place that reads HX-* headers: fragment or whole page, and redirects for both."""
from flask import make_response, redirect, render_template, request, url_for


def is_htmx():
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render(fragment, status=200, page=None, oob=(), retarget=None, template="access.html", url=None, **context):
    """The bare fragment for htmx, else the whole page (template) with the fragment in its place.

    template: the whole page: the access page, or the page of another area (the account page)
    which shows its fragments in their places.
    page: the fragment the whole page shows in its main region, when that is the one that
    holds this fragment (a failed sign-in shows the login form with its error box inside).
    oob: more fragments sent along out-of-band into their slots (htmx only).
    retarget: CSS selector the htmx response replaces instead of the request's target.
    url: the address of the step this fragment is (htmx puts it in the address bar, so a reload
    or the back button serves the same step as a whole page).
    """
    if is_htmx():
        body = render_template(f"partials/{fragment}.html", **context)
        body += "".join(render_template("oob-slot.html", slot=name, **context) for name in oob)
        response = make_response(body, status)
        if retarget:
            response.headers["HX-Retarget"] = retarget
            response.headers["HX-Reswap"] = "outerHTML"
        if url:
            response.headers["HX-Push-Url"] = url
    else:
        response = make_response(render_template(template, fragment=page or fragment, **context), status)
    response.vary.add("HX-Request")
    return response


def redirect_to(endpoint, **values):
    """303 for a plain POST (Post/Redirect/Get); 200 with HX-Redirect for htmx."""
    return redirect_to_url(url_for(endpoint, **values))


def redirect_to_url(url):
    """redirect_to for a URL already checked (a return target)."""
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
    else:
        response = redirect(url, 303)
    response.vary.add("HX-Request")
    return response
