"""The simulator's exceptions: one base class, so a caller can catch every input error at once."""

from __future__ import annotations


class SimulatorError(ValueError):
    """A request the performance model cannot answer (bad argument, unknown name, does not fit)."""


class UnknownNameError(SimulatorError, KeyError):
    """An unknown chip or model name; the message lists the known ones.

    Subclasses both ValueError and KeyError: a registry lookup that fails is both.
    """

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message; show it as written.
        return str(self.args[0]) if self.args else ""


class DoesNotFitError(SimulatorError):
    """The model (weights, or weights plus KV cache) exceeds the memory of the devices."""
