from django.http import HttpRequest

from itsm import navigation as nav


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_items": nav.items_for(user)}
