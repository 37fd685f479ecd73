"""Routes of the ChannelAdvisor sandbox, mounted at /sandbox/<slug>/channeladvisor/. $batch resolves its inner
requests against these same patterns."""

from django.urls import re_path

from sandbox.channeladvisor import views

KEY = r"\((?P<key>[^()/]*)\)"

urlpatterns = [
    re_path(r"^oauth2/token$", views.token),
    re_path(r"^oauth2/authorize$", views.authorize),
    re_path(r"^v1/Orders$", views.orders),
    re_path(rf"^v1/Orders{KEY}$", views.order),
    re_path(rf"^v1/Orders{KEY}/(?P<collection>Items|Fulfillments|Adjustments)$", views.order_collection),
    re_path(rf"^v1/Orders{KEY}/Export$", views.order_export),
    re_path(rf"^v1/Orders{KEY}/Ship$", views.order_ship),
    re_path(rf"^v1/Orders{KEY}/Adjust$", views.order_adjust),
    re_path(rf"^v1/OrderItems{KEY}$", views.order_item),
    re_path(rf"^v1/OrderItems{KEY}/Adjust$", views.order_item_adjust),
    re_path(r"^v1/Fulfillments$", views.fulfillments),
    re_path(rf"^v1/Fulfillments{KEY}$", views.fulfillment),
    re_path(rf"^v1/Fulfillments{KEY}/Move$", views.fulfillment_move),
    re_path(rf"^v1/FulfillmentItems{KEY}/Move$", views.fulfillment_item_move),
    re_path(r"^v1/Products$", views.products),
    re_path(rf"^v1/Products{KEY}$", views.product),
    re_path(rf"^v1/Products{KEY}/UpdateQuantity$", views.product_quantity),
    re_path(rf"^v1/Products{KEY}/DCQuantities$", views.product_dc_quantities),
    re_path(rf"^v1/Products{KEY}/UpdateAttributes$", views.product_update_attributes),
    re_path(rf"^v1/Products{KEY}/(?P<collection>Attributes|Images|Labels|Children|BundleComponents)$",
            views.product_collection),
    re_path(rf"^v1/Products{KEY}/(?P<collection>Attributes|Images|Labels)\((?P<member>.*)\)$", views.product_member),
    re_path(r"^v1/ProductLabels$", views.product_labels),
    re_path(r"^v1/Profiles$", views.profiles),
    re_path(rf"^v1/DistributionCenters{KEY}$", views.distribution_center),
    re_path(r"^v1/DistributionCenters$", views.distribution_centers),
    re_path(r"^v1/\$batch$", views.batch),
    re_path(r"^v1/", views.no_such_resource),
]
