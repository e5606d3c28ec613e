"""The user admin with the sign-in lock-out one action away: superusers lift it for a user who cannot wait."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from catalog.signin_throttle import signin_lockout_lift

__all__ = ["CustodianUserAdmin"]

User = get_user_model()


class CustodianUserAdmin(UserAdmin):
    """Django's user admin, plus "Lift sign-in lock-out" for superusers."""

    actions = [*(UserAdmin.actions or []), "lift_signin_lockout"]

    def has_lift_signin_lockout_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    @admin.action(permissions=["lift_signin_lockout"], description="Lift sign-in lock-out")
    def lift_signin_lockout(self, request, queryset):
        lifted, not_locked = [], []
        for user in queryset.order_by(User.USERNAME_FIELD):
            if signin_lockout_lift(username=user.get_username(), request=request) is None:
                not_locked.append(user.get_username())
            else:
                self.log_change(request, user, "Lifted the sign-in lock-out.")
                lifted.append(user.get_username())
        if lifted:
            self.message_user(request, f"These users may sign in again now: {', '.join(lifted)}.")
        if not_locked:
            self.message_user(
                request, f"Not locked out, nothing to lift: {', '.join(not_locked)}.", messages.WARNING
            )


admin.site.unregister(User)
admin.site.register(User, CustodianUserAdmin)
