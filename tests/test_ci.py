"""The GitHub workflow trusts no one: a read-only token that the PR's code cannot read, and no
expression spliced into a shell script."""

from __future__ import annotations

import yaml

from helpers import ROOT

WORKFLOW = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
STEPS = [step for job in WORKFLOW["jobs"].values() for step in job["steps"]]


def test_the_token_is_read_only():
    assert WORKFLOW["permissions"] == {"contents": "read"}


def test_checkout_does_not_leave_the_token_in_git_config():
    checkouts = [s for s in STEPS if s.get("uses", "").startswith("actions/checkout")]
    assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts)


def test_no_expression_is_expanded_into_a_script():
    """`${{ github.base_ref }}` in `run:` is pasted into the script before the shell sees it (a
    branch name is attacker-chosen); it goes through `env:` instead."""
    scripts = [s["run"] for s in STEPS if "run" in s]
    assert scripts and not [s for s in scripts if "${{" in s]
