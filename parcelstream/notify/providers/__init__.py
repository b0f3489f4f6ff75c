"""Notification providers: one rendered Message in, one call to an outside system out.

base.py holds the interface; each other module is one provider over its real protocol (smtp,
sendgrid, twilio, fcm, webhook) or the embedded outbox file. wiring.py picks them from settings.
"""

from parcelstream.notify.providers.base import Message, Provider, ProviderError, Sent

__all__ = ["Message", "Provider", "ProviderError", "Sent"]
