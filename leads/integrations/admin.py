"""Admin for integrations: issue and revoke API tokens, configure webhooks, read and re-send deliveries."""

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from config.audit import chain as audit
from leads.integrations import tokens, webhooks
from leads.integrations.models import ApiToken, Webhook, WebhookAttempt, WebhookDelivery

# Entries say that these changed, never their values: the digest stands for the token itself.
TOKEN_SECRETS = frozenset({"digest"})
WEBHOOK_SECRETS = frozenset({"secret"})


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "scope", "rate_per_minute", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # A token's scope is part of what was handed out: change it by issuing a new token.
        return [*self.readonly_fields, "scope"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        # The admin saves in a transaction: the token and its entry commit together.
        before = audit.stored_snapshot(obj)
        if not change:
            plaintext = tokens.fill_new_token(obj)
            obj.created_by = request.user
            super().save_model(request, obj, form, change)
            audit.record_change(actor=request.user, obj=obj, before=before, secret_fields=TOKEN_SECRETS)
            messages.warning(
                request,
                f"The token for {obj.name} is {plaintext} — copy it now: it is stored hashed and will not be shown again.",
            )
            return
        super().save_model(request, obj, form, change)
        audit.record_change(actor=request.user, obj=obj, before=before, secret_fields=TOKEN_SECRETS)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row keeps who had access, and until when

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = tokens.revoke_tokens(tokens=queryset, by=request.user, now=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).")


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "buckets", "active", "created_at"]
    list_filter = ["active"]

    def save_model(self, request, obj, form, change):
        before = audit.stored_snapshot(obj)
        super().save_model(request, obj, form, change)
        audit.record_change(actor=request.user, obj=obj, before=before, secret_fields=WEBHOOK_SECRETS)

    def delete_model(self, request, obj):
        with transaction.atomic():
            _record_webhook_deletion(request.user, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # The list's "delete selected" action: not in a transaction of the admin's own.
        with transaction.atomic():
            for webhook in queryset.select_for_update().order_by("pk"):
                _record_webhook_deletion(request.user, webhook)
            super().delete_queryset(request, queryset)


def _record_webhook_deletion(actor, webhook: Webhook) -> None:
    audit.record(
        actor=actor,
        action="integrations.webhook.delete",
        obj=webhook,
        before=audit.hide_secrets(audit.snapshot(webhook), WEBHOOK_SECRETS),
    )


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["at", "status_code", "error", "response", "duration_ms", "by_hand"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "webhook",
        "event",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "webhook"]
    readonly_fields = [
        "webhook",
        "transition",
        "event",
        "body",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    ]
    inlines = [AttemptInline]
    actions = ["resend"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Send the selected deliveries again now")
    def resend(self, request, queryset):
        count = webhooks.resend(deliveries=queryset)
        self.message_user(request, f"Sent {count} delivery(ies) again; see each one's attempts.")
