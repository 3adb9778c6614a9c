from rest_framework.routers import SimpleRouter

from integrations.chat.api import ChatChannelViewSet, ChatMessageViewSet

router = SimpleRouter()
router.register("channels", ChatChannelViewSet, basename="chat-channel")
router.register("messages", ChatMessageViewSet, basename="chat-message")

urlpatterns = router.urls
