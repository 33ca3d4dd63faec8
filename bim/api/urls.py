"""/api/bim/: imports/ (upload, follow) and floors/{id}/plan/."""

from rest_framework.routers import SimpleRouter

from bim.api import views

router = SimpleRouter()
router.register("imports", views.IfcImportViewSet, basename="bim-import")
router.register("floors", views.FloorPlanViewSet, basename="bim-floor")

urlpatterns = router.urls
