"""The loaded spec as plain JSON data (``check-spec --json``)."""
from __future__ import annotations

from typing import Any

from .model import Spec


def spec_as_json(spec: Spec) -> dict:
    """The loaded, normalised spec as plain JSON data."""
    def date(d: Any) -> Any:
        return d.isoformat() if d else None

    def years(by_year: tuple, convert: Any = lambda v: v) -> dict:
        return {str(y): convert(v) for y, v in by_year}

    return {
        "county": spec.county,
        "code": spec.code,
        "years_in_use": list(spec.years_in_use),
        "warnings": [line for year in spec.years_in_use for line in spec.year_warnings(year)],
        "issuer": spec.issuer,
        "plan_years": list(spec.plan_years),
        "tables": list(spec.tables),
        "deadline_day": spec.deadline_day,
        "lights": {"yellow": spec.yellow},
        "resubmit_days": spec.resubmit_days,
        "units": [{"name": u.name, "code": u.code, "aliases": list(u.aliases), "contact": u.contact,
                   "phone": u.phone, "email": u.email} for u in spec.units],
        "groups": {k: list(v) for k, v in spec.groups.items()},
        "projects": [{
            "no": p.no, "name": p.name, "convener": p.convener,
            "lead_units": list(p.lead_units), "units": list(p.units), "goal": p.goal,
            "indicators": [{
                "id": i.id, "name": i.name, "measure": i.measure, "target": i.target,
                "year": i.year, "direction": i.direction, "kind": i.kind, "annual": i.annual,
                "annual_by_year": years(i.annual_by_year),
                "plan": {str(m): v for m, v in i.plan},
                "plan_by_year": years(i.plan_by_year, lambda plan: {str(m): v for m, v in plan}),
                "units": list(i.units),
            } for i in p.indicators],
            "tasks": [{"id": t.id, "name": t.name, "milestone": t.milestone,
                       "milestone_by_year": years(t.milestone_by_year), "due": date(t.due),
                       "due_by_year": years(t.due_by_year, date), "recurring": t.recurring,
                       "units": list(t.units), "partners": list(t.partners)} for t in p.tasks],
            "major_projects": [{"id": m.id, "name": m.name, "content": m.content, "owner": m.owner,
                                "total_investment": m.total_investment, "annual_plan": m.annual_plan,
                                "annual_plan_by_year": years(m.annual_plan_by_year),
                                "planned_start": date(m.planned_start)} for m in p.major_projects],
            "problems": [{"id": q.id, "description": q.description, "raised": date(q.raised),
                          "units": list(q.units), "measures": q.measures, "due": date(q.due)}
                         for q in p.problems],
        } for p in spec.projects],
    }
