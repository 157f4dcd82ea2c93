"""Specs: a county's YAML files or its 规格.xlsx → validated, frozen spec objects.

Where things are:
- model.py: the frozen dataclasses (Spec, Unit, Project, Indicator, Task, MajorProject, Problem)
- schema.py: each object's declared fields (key, type, required, default, per year, Chinese label)
- fields.py: the one validator that walks a mapping against a field table
- problems.py: the catalogue of spec problem codes (P001 …), locations, SpecError
- yaml_source.py / workbook_source.py: the two front ends; build.py: mappings → Spec
- loading.py: load_spec, parse_spec; as_json.py: ``check-spec --json``; export.py: 规格.xlsx out
"""
from __future__ import annotations

from .as_json import spec_as_json
from .loading import WORKBOOK, load_spec, parse_spec, read_spec_sources, spec_digest
from .model import (CODE_ALPHABET, PLACEHOLDER, Indicator, MajorProject, Problem, Project, Spec, Task, Unit,
                    default_unit_code, is_placeholder, resolve_year, short_name, year_warnings)
from .problems import CATALOGUE, Location, SpecError, SpecProblem
from .schema import DIRECTIONS, KINDS, TABLE_KEYS
from .yaml_source import yaml_bounds_problem

__all__ = [
    "CATALOGUE", "CODE_ALPHABET", "DIRECTIONS", "KINDS", "PLACEHOLDER", "TABLE_KEYS", "WORKBOOK",
    "Indicator", "Location", "MajorProject", "Problem", "Project", "Spec", "SpecError", "SpecProblem",
    "Task", "Unit", "default_unit_code", "is_placeholder", "load_spec", "parse_spec", "read_spec_sources",
    "resolve_year", "short_name", "spec_as_json", "spec_digest", "year_warnings", "yaml_bounds_problem",
]
