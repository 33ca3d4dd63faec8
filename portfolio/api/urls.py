from rest_framework.routers import DefaultRouter

from portfolio.api import views

router = DefaultRouter()
router.register("categories", views.CategoryViewSet)
router.register("coding-rules", views.CodingRuleViewSet)
router.register("assets", views.AssetViewSet)
router.register("asset-tags", views.AssetTagViewSet)
router.register("documents", views.DocumentViewSet)
