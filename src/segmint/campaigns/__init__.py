"""Campaigns: segment-targeted messages sent on a schedule, never twice to the same lead.

definitions (what a campaign is), audience (who it targets now), runs (a frozen recipient list
per scheduled moment), templates (sandboxed Jinja), channels (SMTP, webhook), sender (delivery
with leases and retries), scheduler (runs at their times), tracking (opens, clicks,
unsubscribes), mail_settings (the project's SMTP server).
"""
