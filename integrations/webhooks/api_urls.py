from rest_framework.routers import SimpleRouter

from integrations.webhooks.api import WebhookDeliveryViewSet, WebhookSubscriptionViewSet

router = SimpleRouter()
# deliveries/ first: the subscriptions live at the root of /api/webhooks/.
router.register("deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")
router.register("", WebhookSubscriptionViewSet, basename="webhook-subscription")

urlpatterns = router.urls
