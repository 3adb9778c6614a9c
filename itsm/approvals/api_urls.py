from rest_framework.routers import SimpleRouter

from itsm.approvals.api import ApprovalViewSet

router = SimpleRouter()
router.register("approvals", ApprovalViewSet, basename="approval")

urlpatterns = router.urls
