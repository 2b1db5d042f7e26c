"""Live parameters: what a plugin lets a user change while the pipeline runs.

A plugin (detector, tracker, classifier, a ``Schedule``'d function object, an annotator) declares
its live parameters in a ``tunables`` class attribute, a sequence of :class:`Tunable`. The current
value of one is ``getattr(plugin, tunable.name)``; a change is applied with
``plugin.set_tunable(name, value)`` when the plugin defines it (a parameter the constructor derives
other values from, e.g. ByteTrack's ``track_thresh`` -> ``det_thresh``), else with
``setattr(plugin, name, value)``.

``Pipeline.tunables()`` lists them all (:class:`TunableValue`), ``Pipeline.set_tunable()`` checks
a new value at once and applies it on the pipeline's own thread at the start of the next frame.

Example::

    class MyDetector:
        tunables = (Tunable("conf", 0.0, 1.0, 0.01, doc="minimum score"),)

        def __init__(self, conf=0.25):
            self.conf = conf

    pipeline.set_tunable("detector", "conf", 0.5)   # from any thread
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Dict, Sequence, Union

from .errors import UnknownTunableError

#: the kinds of value a tunable takes
KINDS = ("float", "int", "bool")

Value = Union[float, int, bool]


@dataclass(frozen=True)
class Tunable:
    """One live parameter a plugin declares (in its ``tunables`` class attribute).

    Args:
        name: the plugin's attribute holding the value.
        minimum, maximum: the accepted range (inclusive); for ``kind="bool"`` use 0 and 1.
        step: the slider's step (a hint for user interfaces; values between steps are accepted).
        kind: ``"float"``, ``"int"`` or ``"bool"``.
        doc: one line saying what it changes.
    """

    name: str
    minimum: float
    maximum: float
    step: float
    kind: str = "float"
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Tunable {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if not (math.isfinite(self.minimum) and math.isfinite(self.maximum)) or self.minimum > self.maximum:
            raise ValueError(f"Tunable {self.name!r}: needs finite minimum <= maximum, "
                             f"got {self.minimum!r}..{self.maximum!r}")
        if not self.step > 0:
            raise ValueError(f"Tunable {self.name!r}: step must be > 0, got {self.step!r}")

    def check(self, value: Any, owner: str = "") -> Value:
        """``value`` converted to this tunable's kind; TypeError for a value of the wrong type,
        ValueError for one out of range. A float with an integral value is a valid ``int`` (JSON
        numbers do not tell 3 from 3.0)."""
        where = f"{owner}.{self.name}" if owner else self.name
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise TypeError(f"{where} takes a bool, got {type(value).__name__} {value!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{where} takes a number ({self.kind}), got {type(value).__name__} {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{where} must be finite, got {value!r}")
        if self.kind == "int":
            if not number.is_integer():
                raise TypeError(f"{where} takes an int, got {value!r}")
            checked: Value = int(number)
        else:
            checked = number
        if not self.minimum <= number <= self.maximum:
            raise ValueError(f"{where} must be within [{self.minimum:g}, {self.maximum:g}], got {value!r}")
        return checked


@dataclass(frozen=True)
class TunableValue:
    """A live parameter of a pipeline and its value (``Pipeline.tunables()``).

    ``plugin`` says whose it is: ``"detector"``, ``"tracker"``, ``"classifier"``, ``"pipeline"``,
    a ``Schedule``'s name, or ``"annotator:<i>"`` (the i-th annotator). ``value`` is the value in
    effect from the next frame on (a queued change included).
    """

    plugin: str
    name: str
    value: Value
    minimum: float
    maximum: float
    step: float
    kind: str
    doc: str

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {"plugin": self.plugin, "name": self.name, "value": self.value, "minimum": self.minimum,
                "maximum": self.maximum, "step": self.step, "kind": self.kind, "doc": self.doc}


def declared(plugin: Any) -> Sequence[Tunable]:
    """The tunables ``plugin`` declares (its ``tunables`` attribute), checked; () without one."""
    tunables = getattr(plugin, "tunables", None)
    if tunables is None or callable(tunables):
        return ()
    checked = tuple(tunables)
    for tunable in checked:
        if not isinstance(tunable, Tunable):
            raise TypeError(f"{type(plugin).__name__}.tunables must hold vistream.Tunable objects, "
                            f"got {type(tunable).__name__}")
    return checked


def find(plugin: Any, owner: str, name: str) -> Tunable:
    """``plugin``'s tunable ``name``; UnknownTunableError naming the ones it has."""
    for tunable in declared(plugin):
        if tunable.name == name:
            return tunable
    names = ", ".join(t.name for t in declared(plugin)) or "none"
    raise UnknownTunableError(f"{owner!r} has no tunable {name!r} (it has: {names})")


def current_value(plugin: Any, tunable: Tunable) -> Value:
    """The plugin's current value of ``tunable`` as a plain Python number or bool."""
    value = getattr(plugin, tunable.name)
    if tunable.kind == "bool":
        return bool(value)
    if tunable.kind == "int":
        return int(value)
    return float(value)


def apply(plugin: Any, name: str, value: Value) -> None:
    """Sets a checked value: ``plugin.set_tunable(name, value)`` if it has one, else setattr."""
    setter = getattr(plugin, "set_tunable", None)
    if callable(setter):
        setter(name, value)
    else:
        setattr(plugin, name, value)


__all__ = ["Tunable", "TunableValue"]
