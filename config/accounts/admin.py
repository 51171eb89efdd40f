"""Admin: the security policy, people and roles (audited), and actions to sign out or reset two-factor."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission, User
from django.db import transaction

from config.accounts import services
from config.accounts.models import SecurityPolicy, UserSession
from config.audit import chain as audit
from config.roles import ROLES


@admin.register(SecurityPolicy)
class SecurityPolicyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return not SecurityPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        before = audit.stored_snapshot(obj)
        super().save_model(request, obj, form, change)
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


# What an entry about a person holds: who they are and what they may do. Never the password hash.
PERSON_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")


def _permission_names(permissions) -> list[str]:
    """`app_label.codename` of each permission, sorted (a codename alone can repeat across apps)."""
    return sorted(
        f"{app}.{code}" for app, code in permissions.values_list("content_type__app_label", "codename")
    )


def person_state(user_id) -> dict | None:
    """A person as stored now: their fields, their groups' names and direct permissions; None if absent."""
    state = User.objects.filter(pk=user_id).values(*PERSON_FIELDS).first()
    if state is not None:
        state["groups"] = sorted(Group.objects.filter(user=user_id).values_list("name", flat=True))
        state["user_permissions"] = _permission_names(Permission.objects.filter(user=user_id))
    return state


def group_state(group_id) -> dict | None:
    """A group (a role) as stored now: its name and permissions; None if absent."""
    state = Group.objects.filter(pk=group_id).values("name").first()
    if state is not None:
        state["permissions"] = _permission_names(Permission.objects.filter(group=group_id))
    return state


class AuditedPermissionsAdmin(admin.ModelAdmin):
    """Writes one entry per save, covering the row and its many-to-many fields, and none when unchanged.

    The admin saves many-to-many fields (groups, permissions) in `save_related`, after `save_model`, in
    the same transaction: the state is read before the first and compared after the second.
    """

    def audit_state(self, pk) -> dict | None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change) -> None:
        form.audit_before = self.audit_state(obj.pk) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        before = getattr(form, "audit_before", None)
        old, new = audit.changed_only(before, self.audit_state(form.instance.pk))
        if new:
            verb = "create" if before is None else "change"
            action = f"{form.instance._meta.label_lower}.{verb}"
            audit.record(actor=request.user, action=action, obj=form.instance, before=old, after=new)

    def delete_model(self, request, obj) -> None:
        with transaction.atomic():
            gone = self._as_deleted(obj)
            super().delete_model(request, obj)
            self._record_deletion(request.user, gone)

    def delete_queryset(self, request, queryset) -> None:
        # The list's "delete selected" action: not in a transaction of the admin's own.
        with transaction.atomic():
            gone = [self._as_deleted(obj) for obj in queryset.select_for_update().order_by("pk")]
            super().delete_queryset(request, queryset)
            for deleted in gone:
                self._record_deletion(request.user, deleted)

    def _as_deleted(self, obj) -> dict:
        # Read before the delete (which clears the pk); recorded after it, the chain's lock taken last.
        return {
            "object_type": obj._meta.label_lower,
            "object_id": str(obj.pk),
            "object_repr": str(obj),
            "before": self.deleted_state(obj),
        }

    def _record_deletion(self, actor, deleted: dict) -> None:
        audit.record(actor=actor, action=f"{deleted['object_type']}.delete", **deleted)

    def deleted_state(self, obj) -> dict | None:
        return self.audit_state(obj.pk)


admin.site.unregister(User)


@admin.register(User)
class LeadmatrixUserAdmin(AuditedPermissionsAdmin, UserAdmin):
    inlines = [SessionInline]
    actions = ["end_sessions", "reset_two_factor"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Their name stays in the audit trail, which refuses changes: deactivate people instead.
        return False

    def audit_state(self, pk) -> dict | None:
        return person_state(pk)

    def user_change_password(self, request, id, form_url=""):
        """The admin's "change password" form; a new password is an entry that never holds the hash."""
        with transaction.atomic():
            user = self.get_object(request, unquote(id)) if request.method == "POST" else None
            response = super().user_change_password(request, id, form_url)
            if user is not None:
                _record_password_change(request.user, user)
        return response

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


def _record_password_change(actor, user: User) -> None:
    """An entry when the stored password changed (a new salt changes it even for the same password)."""
    was_usable, old_hash = user.has_usable_password(), user.password
    user.refresh_from_db(fields=["password"])
    if user.password == old_hash:
        return  # the form was refused: nothing changed
    before, after = {"password": audit.NOT_RECORDED}, {"password": audit.NOT_RECORDED}
    if user.has_usable_password() != was_usable:  # password sign-in switched off or on
        before["usable_password"], after["usable_password"] = was_usable, user.has_usable_password()
    audit.record(actor=actor, action="auth.user.password", obj=user, before=before, after=after)


admin.site.unregister(Group)


@admin.register(Group)
class LeadmatrixGroupAdmin(AuditedPermissionsAdmin, GroupAdmin):
    """Groups are the roles: what each may do (its permissions) is recorded when it changes."""

    def has_delete_permission(self, request, obj=None) -> bool:
        # The three role groups are the roles the code checks: deleting one would take the role
        # from everyone in it, and nothing could give it back under the same name.
        return super().has_delete_permission(request, obj) and not (obj and obj.name in ROLES)

    def get_readonly_fields(self, request, obj=None):
        return ("name",) if obj and obj.name in ROLES else ()

    def audit_state(self, pk) -> dict | None:
        return group_state(pk)

    def deleted_state(self, obj) -> dict | None:
        # Deleting a group takes the role from everyone in it: name them.
        members = sorted(User.objects.filter(groups=obj).values_list("username", flat=True))
        return group_state(obj.pk) | {"members": members}
