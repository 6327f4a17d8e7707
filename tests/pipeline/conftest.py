"""The monitoring tests' small generated banks serve the pipeline tests too."""

from monitoring.conftest import bank, bank_template  # noqa: F401
