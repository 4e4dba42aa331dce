"""Per-server governance data: settings, limit rules, allowed channels and roles, blocklist, strikes, audit,
reports and forgetting, one repository per table group (their modules below), composed into one object."""

from __future__ import annotations

from bot.store.audit_log import AuditRepository
from bot.store.blocklist import BlocklistRepository
from bot.store.forget import ForgetRepository
from bot.store.guild_settings import GuildSettingsRepository
from bot.store.limit_rules import LimitRuleRepository
from bot.store.members import MemberRepository
from bot.store.reports import ReportRepository


class Governance(
    GuildSettingsRepository,
    LimitRuleRepository,
    BlocklistRepository,
    MemberRepository,
    AuditRepository,
    ReportRepository,
    ForgetRepository,
):
    """Every per-server repository on one object, sharing one database and one read cache."""
