from accounts.views import auth, staff
from vbwd.api import UUID_PATTERN, route

USER = rf"admin/users/(?P<user_id>{UUID_PATTERN})"

urlpatterns = [
    route(r"auth/register", auth.RegisterView.as_view(), name="auth-register"),
    route(r"auth/login", auth.LoginView.as_view(), name="auth-login"),
    route(r"auth/refresh", auth.RefreshView.as_view(), name="auth-refresh"),
    route(r"auth/logout", auth.LogoutView.as_view(), name="auth-logout"),
    route(r"auth/me", auth.MeView.as_view(), name="auth-me"),
    route(r"auth/check-email", auth.CheckEmailView.as_view(), name="auth-check-email"),
    route(r"auth/forgot-password", auth.ForgotPasswordView.as_view(), name="auth-forgot-password"),
    route(r"auth/reset-password", auth.ResetPasswordView.as_view(), name="auth-reset-password"),
    route(r"user/profile", auth.ProfileView.as_view(), name="user-profile"),
    route(r"user/details", auth.DetailsView.as_view(), name="user-details"),
    route(r"user/change-password", auth.ChangePasswordView.as_view(), name="user-change-password"),
    route(r"admin/users", staff.AdminUsersView.as_view(), name="admin-users"),
    route(USER, staff.AdminUserDetailView.as_view(), name="admin-user"),
    route(rf"{USER}/roles", staff.AdminUserRolesView.as_view(), name="admin-user-roles"),
    route(rf"{USER}/suspend", staff.AdminUserSuspendView.as_view(), name="admin-user-suspend"),
    route(rf"{USER}/activate", staff.AdminUserActivateView.as_view(), name="admin-user-activate"),
    route(
        rf"{USER}/deletion-info",
        staff.AdminUserDeletionInfoView.as_view(),
        name="admin-user-deletion-info",
    ),
    route(r"admin/profile", staff.AdminProfileView.as_view(), name="admin-profile"),
]
