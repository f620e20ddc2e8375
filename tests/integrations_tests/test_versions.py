"""Every integration names the versions it was tested on; the installed ones are inside them
(this fails when an upgrade leaves a range: check what that module relies on, then widen it);
outside a range, importing says so in one warning line."""

from __future__ import annotations

import importlib
import logging
import pkgutil

import pytest

import nagexp.integrations
from nagexp.integrations.versions import Tested, installed_version

MODULES = [m.name for m in pkgutil.iter_modules(nagexp.integrations.__path__) if m.name != "versions"]


def _tested(module_name: str) -> list[Tested]:
    module = importlib.import_module(f"nagexp.integrations.{module_name}")
    return [v for v in vars(module).values() if isinstance(v, Tested)]


@pytest.mark.parametrize("module_name", MODULES)
def test_each_integration_names_its_tested_versions_and_the_installed_ones_are_in_them(module_name: str) -> None:
    tested = _tested(module_name)
    assert tested, f"nagexp.integrations.{module_name} names no tested versions"
    for t in tested:
        assert t.covers(installed_version(t.package)), f"{t.package} {installed_version(t.package)} is outside {t}"


def test_outside_the_range_is_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    tested = Tested("ray", "2.60", "2.61", "Tune's telemetry")
    with caplog.at_level(logging.WARNING, logger="nagexp.integrations"):
        assert tested.check("2.60.3")
        assert not caplog.records
        assert not tested.check("2.61.0")
        assert not tested.check("2.61.0")  # said once
    (record,) = caplog.records
    assert record.getMessage() == ("warning: nagexp was tested with ray >=2.60,<2.61, found ray 2.61.0: "
                                   "Tune's telemetry may not hold")  # fmt: skip
    assert not tested.covers("2.59.9") and not tested.covers(None) and not tested.covers("garbage")
