from rest_framework.routers import DefaultRouter

from spatial.api import views

router = DefaultRouter()
router.register("companies", views.CompanyViewSet)
router.register("sites", views.SiteViewSet)
router.register("buildings", views.BuildingViewSet)
router.register("floors", views.FloorViewSet)
router.register("units", views.UnitViewSet)
router.register("roads", views.RoadViewSet)
router.register("parks", views.ParkViewSet)
router.register("parcels", views.ParcelViewSet)
router.register("me", views.MeViewSet, basename="me")
