from django.urls import path

from integrations.webhooks import views

# Included under the "integrations" namespace (integrations/urls.py): names start with webhooks-.
urlpatterns = [
    path("", views.delivery_list, name="webhooks-delivery-list"),
    path("deliveries/<int:pk>/redeliver/", views.delivery_redeliver, name="webhooks-delivery-redeliver"),
]
