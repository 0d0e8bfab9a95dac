from accounts import views
from vbwd.api import route

urlpatterns = [
    route(r"auth/register", views.RegisterView.as_view(), name="auth-register"),
    route(r"auth/login", views.LoginView.as_view(), name="auth-login"),
    route(r"auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    route(r"auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    route(r"auth/me", views.MeView.as_view(), name="auth-me"),
    route(r"auth/check-email", views.CheckEmailView.as_view(), name="auth-check-email"),
    route(r"auth/forgot-password", views.ForgotPasswordView.as_view(), name="auth-forgot-password"),
    route(r"auth/reset-password", views.ResetPasswordView.as_view(), name="auth-reset-password"),
    route(r"user/profile", views.ProfileView.as_view(), name="user-profile"),
    route(r"user/details", views.DetailsView.as_view(), name="user-details"),
    route(r"user/change-password", views.ChangePasswordView.as_view(), name="user-change-password"),
]
