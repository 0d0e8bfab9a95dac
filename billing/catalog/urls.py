from billing.catalog.routes import geography, payment_methods, plans

urlpatterns = [*plans.urlpatterns, *payment_methods.urlpatterns, *geography.urlpatterns]
