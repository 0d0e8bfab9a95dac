from billing.invoices.routes.gateway import gateway_urlpatterns

urlpatterns = gateway_urlpatterns("yookassa")
