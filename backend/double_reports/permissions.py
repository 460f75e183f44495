"""Double reports: the party member's own, decided by the community's organisers."""

from __future__ import annotations

from backend.core.permissions import capability, rule, visible_if
from backend.double_reports.models import DoubleReport

visible_if(DoubleReport, lambda actor, report: report.person_id == actor.person_id
           or actor.is_staff_over(report.community))
rule("double_report.view", DoubleReport, lambda actor, report, **_: True)
rule("double_report.decide", DoubleReport, lambda actor, report, **_: actor.is_organiser_over(report.community))
capability("double_report.file", lambda actor: bool(actor.person.is_party_member))
