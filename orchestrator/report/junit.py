"""junit.xml: each step a test case, so a CI system shows a run as it shows a test suite."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from orchestrator.model import StepStatus
from orchestrator.report.model import Report

#: step statuses that count as failures in the summary and junit.xml
FAILURES = (StepStatus.FAILED, StepStatus.ROLLBACK_FAILED)
#: step statuses a run leaves a step in when it got to it
ENDED = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.ROLLBACK_FAILED, StepStatus.ROLLED_BACK)


def render_junit(report: Report) -> str:
    steps = report.steps
    suite = ET.Element(
        "testsuite",
        name=f"{report.kind}.{report.site}",
        tests=str(len(steps)),
        failures=str(sum(1 for s in steps if s.status in FAILURES)),
        skipped=str(sum(1 for s in steps if s.status not in ENDED)),
        time=str(sum(s.duration_seconds or 0 for s in steps)),
        timestamp=report.started_at or "",
    )
    for step in steps:
        case = ET.SubElement(suite, "testcase", classname=f"{report.kind}.{step.uses}", name=step.id,
                             time=str(step.duration_seconds or 0))
        if step.status in FAILURES:
            ET.SubElement(case, "failure", message=(step.error or step.status)[:500]).text = step.error
        elif step.status not in (StepStatus.SUCCEEDED, StepStatus.ROLLED_BACK):
            ET.SubElement(case, "skipped", message=step.status)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
