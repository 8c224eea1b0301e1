"""Generated docs stay in step with the tables they come from."""
import os

from conftest import ROOT, kiln


def test_api_coverage_is_current():
    with open(os.path.join(ROOT, "docs", "api-coverage.md")) as f:
        assert f.read() == kiln("admin", "api-coverage").stdout, \
            "docs/api-coverage.md is stale: run make docs"


def test_configuration_is_current():
    with open(os.path.join(ROOT, "docs", "configuration.options.md")) as f:
        assert f.read() == kiln("admin", "config", "doc").stdout, \
            "docs/configuration.options.md is stale: run make docs"
