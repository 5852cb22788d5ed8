"""JUnit XML that validates against the schema of the ``junit_family`` in use.

pytest's xunit2 schema (its default family) allows ``<properties>`` on a ``<testsuite>`` only, never
in a ``<testcase>``, so per-item metrics recorded as user properties would make the file invalid
(pytest's own ``record_property`` warns about exactly this). Under xunit2 the ``aibench.*`` properties
are therefore moved to the testsuite, each named with its item's node id
(``suites/smoke/suite.yaml::tinycnn[onnxruntime-fp32-single]::aibench.accuracy``); with
``-o junit_family=xunit1`` they stay in each ``<testcase>``. Runs on the controller only, where
pytest's junitxml writes the file (xdist workers' reports carry the properties there).
"""

from __future__ import annotations

from typing import Any

import pytest
from _pytest.junitxml import xml_key

PREFIX = "aibench."


def wanted(config: pytest.Config) -> bool:
    """A JUnit file is being written in the xunit2 family, by this (controller) process."""
    return (
        bool(getattr(config.option, "xmlpath", None))
        and not hasattr(config, "workerinput")
        and config.getini("junit_family") == "xunit2"
    )


class Xunit2Properties:
    def __init__(self, config: pytest.Config):
        self.config = config

    @pytest.hookimpl(tryfirst=True)  # before junitxml turns the report's properties into <property> elements
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ours = [(n, v) for n, v in report.user_properties if str(n).startswith(PREFIX)]
        if not ours:
            return
        report.user_properties = [(n, v) for n, v in report.user_properties if not str(n).startswith(PREFIX)]
        xml: Any = self.config.stash.get(xml_key, None)
        if xml is None or report.when != "teardown":  # junitxml reads properties at teardown: add them once
            return
        for name, value in ours:
            xml.add_global_property(f"{report.nodeid}::{name}", value)
