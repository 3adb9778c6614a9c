from rest_framework.routers import SimpleRouter

from problems.api import CandidateViewSet, ProblemViewSet

router = SimpleRouter()
# Before the problems: "candidates" would otherwise be read as a problem id.
router.register("problems/candidates", CandidateViewSet, basename="problem-candidate")
router.register("problems", ProblemViewSet, basename="problem")

urlpatterns = router.urls
