from django import template

from itsm.models import Notification

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notification_count(context: template.Context) -> int:
    user = context["request"].user
    if not user.is_authenticated:
        return 0
    return Notification.objects.for_user(user).unread().count()
