"""Milestone notifications: subscriptions, triggers, templates and providers."""
