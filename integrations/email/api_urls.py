from django.urls import path
from rest_framework.routers import SimpleRouter

from integrations.email.api import EmailReceiptViewSet, inbound

router = SimpleRouter()
router.register("receipts", EmailReceiptViewSet, basename="email-receipt")

urlpatterns = [path("inbound/", inbound, name="email-inbound"), *router.urls]
