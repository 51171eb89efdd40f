"""Admin: the security policy, and actions to sign a person out everywhere or reset their two-factor."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from config.accounts import services
from config.accounts.models import SecurityPolicy, UserSession
from config.audit import chain as audit


@admin.register(SecurityPolicy)
class SecurityPolicyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return not SecurityPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        before = audit.stored_snapshot(obj)
        super().save_model(request, obj, form, change)
        _, after = audit.changed_only(before, audit.snapshot(obj))
        if after:  # saved unchanged: nothing happened, so nothing to record
            audit.record_change(actor=request.user, obj=obj, before=before)

    def changelist_view(self, request, extra_context=None):
        # One row only: the list would be a detour.
        from django.shortcuts import redirect

        policy = SecurityPolicy.current()
        return redirect("admin:accounts_securitypolicy_change", policy.pk)


class SessionInline(admin.TabularInline):
    model = UserSession
    fields = ["created_at", "ip", "user_agent"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "signed-in sessions (end them with the action on the user list)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


admin.site.unregister(User)


@admin.register(User)
class LeadmatrixUserAdmin(UserAdmin):
    inlines = [SessionInline]
    actions = ["end_sessions", "reset_two_factor"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Their name stays in the audit trail, which refuses changes: deactivate people instead.
        return False

    @admin.action(description="Sign the selected people out everywhere")
    def end_sessions(self, request, queryset) -> None:
        ended = sum(services.end_sessions(user=user, by=request.user) for user in queryset)
        self.message_user(
            request, f"Ended {ended} session(s) of {queryset.count()} person(s).", messages.SUCCESS
        )

    @admin.action(description="Reset two-factor (a lost phone): they set it up again at next sign-in")
    def reset_two_factor(self, request, queryset) -> None:
        removed = sum(services.remove_two_factor(user=user, by=request.user) for user in queryset)
        for user in queryset:
            services.end_sessions(user=user, by=request.user)
        self.message_user(
            request, f"Removed {removed} authenticator(s) and ended their sessions.", messages.SUCCESS
        )
