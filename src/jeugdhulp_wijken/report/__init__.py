"""The region report: one self-contained HTML file per region, in Dutch (default) or English.

Modules: :mod:`.fmt` (number formatting), :mod:`.inputs` (artefacts and key lookups),
:mod:`.content` (numbers, tables and lists of the report), :mod:`.figures` (registered figures),
:mod:`.colophon` (sources and colophon), :mod:`.render` (templates, checks, writing),
:mod:`.browser` (headless Chromium: PDF and the DevTools checks).
"""
from .inputs import ReportError
from .render import Report, build_report, check_offline, write_report

__all__ = ["Report", "ReportError", "build_report", "check_offline", "write_report"]
