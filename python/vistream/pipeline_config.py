"""``PipelineConfig``: a whole analysis pipeline described in one YAML file, shared by
``vistream batch``, ``vistream.batch.run`` and its Ray tasks.

Example (every key is optional; see docs/batch.md for the full schema)::

    sources: [clips/a.mp4, clips/b.mp4]   # relative to this file's folder
    detector: {name: motion, options: {min_area: 0.001}}
    tracker: bytetrack                     # or {name: bytetrack, options: {track_buffer: 60}}
    annotators: [box, label, trace]
    schedule: {every_n_frames: 2}
    outputs: "{stem}.mp4"                  # annotated video per source (null: none)
    results: "{stem}.jsonl"
    player: {threads: 1, encoder: libx264}
    sinks: [{type: mqtt, topic: cams}]     # kept as given, for the sinks that consume them

``PipelineConfig.from_yaml(path)`` reads and validates it (``PipelineConfigError`` names the key
at fault: ``detector.options.min_aera: not an option of MotionDetector``); ``build_pipeline()``
makes a fresh ``vistream.Pipeline`` from it, as ``vistream play --detector/--tracker/--annotate
/--bytetrack`` would. A config is plain data (picklable): it travels to worker processes and Ray
tasks, which each build their own pipeline.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from .errors import MissingDependencyError, VistreamError

#: detector names and what they build; "yolox" takes the ``--bytetrack`` detection keys
DETECTORS = ("none", "motion", "hog", "mtcnn", "yolox")
#: tracker names
TRACKERS = ("none", "bytetrack", "botsort", "sort")
#: the fields a name pattern (``outputs``/``results``) may use
PATTERN_FIELDS = ("stem", "name", "key", "index")
#: Player keywords a config may set under ``player:`` (the rest belong to the batch runner)
PLAYER_KEYS = ("hwaccel", "encoder", "codec", "crf", "preset", "bitrate", "audio", "vfilter", "threads")
_TOP_KEYS = ("sources", "detector", "tracker", "annotators", "schedule", "outputs", "results", "player", "sinks")


class PipelineConfigError(VistreamError, ValueError):
    """A pipeline config that cannot be used: the message starts with the key at fault
    (``tracker.options.track_thresh: must be between 0 and 1, got 1.5``) and, read from a
    file, names the file."""


@dataclass(frozen=True)
class PluginSpec:
    """One detector, tracker or annotator of a config: a built-in ``name`` (``motion``,
    ``bytetrack``, ``box``...) or an import path ``"package.module:Class"``, and the keyword
    options it is built with."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_import_path(self) -> bool:
        return ":" in self.name


@dataclass(frozen=True)
class PipelineConfig:
    """A validated pipeline description (see the module doc and docs/batch.md).

    Build it with ``PipelineConfig.from_yaml(path)``, ``PipelineConfig.from_dict(data)`` or
    directly; the constructor validates too, so a ``PipelineConfig`` is always usable.
    """

    #: sources named by the config (the CLI's and ``run()``'s sources come after them)
    sources: Tuple[str, ...] = ()
    detector: Optional[PluginSpec] = None
    tracker: Optional[PluginSpec] = None
    annotators: Tuple[PluginSpec, ...] = ()
    #: the detector's cadence, as ``Pipeline(every_n_frames=, interval=)``
    every_n_frames: int = 1
    interval: Optional[float] = None
    #: annotated video per source, a name pattern with {stem} {name} {key} {index}; None: no video
    outputs: Optional[str] = None
    #: results file per source (.jsonl), a name pattern as ``outputs``
    results: str = "{key}.jsonl"
    #: Player keywords (``PLAYER_KEYS``) for every source
    player: Mapping[str, Any] = field(default_factory=dict)
    #: output sinks, kept exactly as given (consumed by the sinks, not checked here)
    sinks: Tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        _validate(self)

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: "str | os.PathLike[str]") -> "PipelineConfig":
        """Reads a YAML config; relative ``sources`` are taken relative to the file's folder.
        Raises ``PipelineConfigError`` (naming the file and key), ``FileNotFoundError``."""
        try:
            import yaml
        except ImportError:
            raise MissingDependencyError("reading a pipeline config needs PyYAML: pip install "
                                         "'vistream[batch]' (or pip install pyyaml)") from None
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise PipelineConfigError(f"{path}: not valid YAML: {error}") from None
        if data is None:
            data = {}
        try:
            return cls.from_dict(data, base_dir=path.parent)
        except PipelineConfigError as error:
            raise PipelineConfigError(f"{path}: {error}") from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: "str | os.PathLike[str] | None" = None) -> "PipelineConfig":
        """The config a parsed YAML/JSON mapping describes; ``base_dir`` anchors relative
        local ``sources``. Raises ``PipelineConfigError`` naming the key at fault."""
        if not isinstance(data, Mapping):
            raise PipelineConfigError(f"the config must be a mapping of keys ({', '.join(_TOP_KEYS)}), "
                                      f"got {type(data).__name__}")
        unknown = [key for key in data if key not in _TOP_KEYS]
        if unknown:
            raise PipelineConfigError(f"{unknown[0]}: unknown key{_did_you_mean(str(unknown[0]), _TOP_KEYS)}; "
                                      f"valid keys: {', '.join(_TOP_KEYS)}")
        sources = data.get("sources") or ()
        if isinstance(sources, str) or not isinstance(sources, Sequence):
            raise PipelineConfigError(f"sources: expected a list of files or URLs, got {sources!r}")
        resolved = []
        for i, source in enumerate(sources):
            if not isinstance(source, str) or not source:
                raise PipelineConfigError(f"sources[{i}]: expected a file or URL, got {source!r}")
            resolved.append(_anchor(source, base_dir))
        schedule = data.get("schedule") or {}
        if not isinstance(schedule, Mapping):
            raise PipelineConfigError(f"schedule: expected a mapping (every_n_frames, interval), got {schedule!r}")
        unknown = [key for key in schedule if key not in ("every_n_frames", "interval")]
        if unknown:
            raise PipelineConfigError(f"schedule.{unknown[0]}: unknown key; valid keys: every_n_frames, interval")
        annotators = data.get("annotators") or ()
        if isinstance(annotators, str):  # "box,label" as --annotate takes it
            annotators = [name for name in annotators.split(",") if name.strip()]
        if not isinstance(annotators, Sequence):
            raise PipelineConfigError(f"annotators: expected a list, got {annotators!r}")
        sinks = data.get("sinks") or ()
        if not isinstance(sinks, Sequence) or isinstance(sinks, str) or not all(isinstance(s, Mapping) for s in sinks):
            raise PipelineConfigError("sinks: expected a list of mappings")
        player = data.get("player") or {}
        return cls(
            sources=tuple(resolved),
            detector=_plugin_spec(data.get("detector"), "detector"),
            tracker=_plugin_spec(data.get("tracker"), "tracker"),
            annotators=tuple(_plugin_spec(item, f"annotators[{i}]") for i, item in enumerate(annotators)),
            every_n_frames=schedule.get("every_n_frames", 1),
            interval=schedule.get("interval"),
            outputs=data.get("outputs"),
            results=data.get("results", "{key}.jsonl"),
            player=dict(player) if isinstance(player, Mapping) else player,
            sinks=tuple(dict(sink) for sink in sinks),
        )

    def to_dict(self) -> Dict[str, Any]:
        """The config as plain data (``from_dict(config.to_dict()) == config``)."""
        def spec(value: Optional[PluginSpec]) -> Any:
            return None if value is None else {"name": value.name, "options": dict(value.options)}

        return {
            "sources": list(self.sources), "detector": spec(self.detector), "tracker": spec(self.tracker),
            "annotators": [spec(a) for a in self.annotators],
            "schedule": {"every_n_frames": self.every_n_frames, "interval": self.interval},
            "outputs": self.outputs, "results": self.results, "player": dict(self.player),
            "sinks": [dict(s) for s in self.sinks],
        }

    def fingerprint(self) -> str:
        """A hash of everything that shapes a source's outputs (not the source list, not the
        sinks): ``vistream batch`` redoes finished sources when it changes."""
        data = self.to_dict()
        del data["sources"], data["sinks"]
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- use -----------------------------------------------------------------------------
    def output_name(self, pattern: str, source: str, key: str, index: int) -> str:
        """A name pattern (``outputs``/``results``) filled in for one source."""
        return pattern.format(**pattern_fields(source, key, index))

    def build_pipeline(self, frame_rate: Optional[float] = None, *, results: "str | os.PathLike[str] | None" = None,
                       tensors: Optional[bool] = None):
        """A fresh ``vistream.Pipeline`` (detector, tracker, annotators, cadence) as this config
        says, writing its results to ``results`` (a path; None: no results file).

        ``frame_rate`` is the source's fps: trackers get the detector's rate (``fps /
        every_n_frames``, capped by ``interval``) unless the config sets ``frame_rate``, as
        ``vistream play`` does. Models load here (YOLOX may download its weights).
        """
        from .pipeline import Pipeline

        rate = (frame_rate or 30.0) / self.every_n_frames
        if self.interval is not None:
            rate = min(rate, 1.0 / self.interval)
        detector, tracker = self._detector_and_tracker(rate)
        annotators = [_build_annotator(spec, f"annotators[{i}]") for i, spec in enumerate(self.annotators)]
        return Pipeline(detector, tracker, annotators, every_n_frames=self.every_n_frames, interval=self.interval,
                        results=None if results is None else str(results), tensors=tensors)

    def _detector_and_tracker(self, rate: float) -> Tuple[Any, Any]:
        detector_spec, tracker_spec = self.detector, self.tracker
        detector = tracker = None
        if detector_spec is not None and detector_spec.name == "yolox":
            from .cli import _yolox_tracker

            tracker_name = tracker_spec.name if tracker_spec is not None else "bytetrack"
            options = {**_yolox_options(detector_spec.options, "detector.options")}
            make_detector, make_tracker = _yolox_tracker(options, rate, "botsort" if tracker_name == "botsort" else
                                                         "bytetrack")
            detector = make_detector()
            if tracker_spec is not None:  # with the --bytetrack/--botsort tracker keys of detector.options
                return detector, make_tracker()
        elif detector_spec is not None:
            detector = _build(_detector_factory(detector_spec.name, "detector"), detector_spec.options,
                              "detector", {})
        if tracker_spec is not None:
            tracker = _build(_tracker_factory(tracker_spec.name, "tracker"), tracker_spec.options, "tracker",
                             {"frame_rate": rate})
        return detector, tracker


def pattern_fields(source: str, key: str, index: int) -> Dict[str, Any]:
    """What ``{stem}``, ``{name}``, ``{key}`` and ``{index}`` stand for, for one source."""
    name = source.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "source"
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    return {"stem": stem, "name": name, "key": key, "index": index}


# -- validation -----------------------------------------------------------------------------

def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _anchor(source: str, base_dir: "str | os.PathLike[str] | None") -> str:
    from ._output_file import is_url

    if base_dir is None or is_url(source) or os.path.isabs(source):
        return source
    return os.path.normpath(os.path.join(os.fspath(base_dir), os.path.expanduser(source)))


def _plugin_spec(value: Any, where: str) -> Optional[PluginSpec]:
    if value is None:
        return None
    if isinstance(value, PluginSpec):
        return value
    if isinstance(value, str):
        name, options = value, {}
    elif isinstance(value, Mapping):
        unknown = [key for key in value if key not in ("name", "options")]
        if unknown:
            raise PipelineConfigError(f"{where}.{unknown[0]}: unknown key; a plugin is {{name: ..., options: {{...}}}}")
        name, options = value.get("name"), value.get("options") or {}
    else:
        raise PipelineConfigError(f"{where}: expected a name or {{name: ..., options: {{...}}}}, got {value!r}")
    if not isinstance(name, str) or not name.strip():
        raise PipelineConfigError(f"{where}.name: expected a plugin name, got {name!r}")
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise PipelineConfigError(f"{where}.options: expected a mapping of keyword options, got {options!r}")
    name = name.strip() if ":" in name else name.strip().lower()
    return None if name == "none" else PluginSpec(name, dict(options))


def _validate(config: PipelineConfig) -> None:
    # dataclasses are frozen: normalise through object.__setattr__ where the constructor was lenient
    set_ = lambda name, value: object.__setattr__(config, name, value)  # noqa: E731
    set_("sources", tuple(config.sources))
    set_("annotators", tuple(_plugin_spec(a, f"annotators[{i}]") for i, a in enumerate(config.annotators)))
    set_("detector", _plugin_spec(config.detector, "detector"))
    set_("tracker", _plugin_spec(config.tracker, "tracker"))
    set_("sinks", tuple(config.sinks))
    every = config.every_n_frames
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise PipelineConfigError(f"schedule.every_n_frames: expected a whole number >= 1, got {every!r}")
    interval = config.interval
    if interval is not None and (isinstance(interval, bool) or not isinstance(interval, (int, float))
                                 or not math.isfinite(interval) or interval <= 0):
        raise PipelineConfigError(f"schedule.interval: expected seconds > 0 (or null), got {interval!r}")
    if config.tracker is not None and config.detector is None:
        raise PipelineConfigError(f"tracker: {config.tracker.name} needs a detector to track: add detector: "
                                  f"{'|'.join(DETECTORS[1:])}")
    if (every != 1 or interval is not None) and config.detector is None:
        raise PipelineConfigError("schedule: sets the detector's cadence: add a detector")
    _check_pattern(config.results, "results", suffixes=(".jsonl",))
    if config.outputs is not None:
        from .cli import OUTPUT_EXTENSIONS

        _check_pattern(config.outputs, "outputs", suffixes=tuple(e for e in OUTPUT_EXTENSIONS if e != ".m3u8"))
        if config.outputs == config.results:
            raise PipelineConfigError("outputs and results name the same file")
    if not isinstance(config.player, Mapping):
        raise PipelineConfigError(f"player: expected a mapping of Player options, got {config.player!r}")
    for key in config.player:
        if key not in PLAYER_KEYS:
            raise PipelineConfigError(f"player.{key}: not an option here{_did_you_mean(str(key), PLAYER_KEYS)}; "
                                      f"valid: {', '.join(PLAYER_KEYS)}")
    set_("player", dict(config.player))
    # Names are checked now, options against the classes' signatures: a typo fails before any
    # source is opened (and before thousands of tasks are queued), not in every worker.
    if config.detector is not None:
        if config.detector.name == "yolox":
            _yolox_options(config.detector.options, "detector.options")
        else:
            _check_options(_detector_factory(config.detector.name, "detector"), config.detector.options, "detector")
    if config.tracker is not None:
        factory = _tracker_factory(config.tracker.name, "tracker")
        if not (config.detector is not None and config.detector.name == "yolox"):
            _check_options(factory, config.tracker.options, "tracker")
        elif config.tracker.name not in ("bytetrack", "botsort"):
            raise PipelineConfigError("tracker: the yolox detector pairs with bytetrack or botsort")
        elif config.tracker.options:
            raise PipelineConfigError("tracker.options: with detector yolox, give the --bytetrack/--botsort keys "
                                      "(track_thresh, match_thresh, track_buffer...) under detector.options")
    for i, spec in enumerate(config.annotators):
        _check_options(_annotator_factory(spec.name, f"annotators[{i}]"), spec.options, f"annotators[{i}]")


def _check_pattern(pattern: Any, where: str, suffixes: Tuple[str, ...]) -> None:
    if not isinstance(pattern, str) or not pattern.strip():
        raise PipelineConfigError(f"{where}: expected a file name pattern such as '{{stem}}{suffixes[0]}', "
                                  f"got {pattern!r}")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]
    except ValueError as error:
        raise PipelineConfigError(f"{where}: {pattern!r}: {error}") from None
    unknown = [name for name in names if name not in PATTERN_FIELDS]
    if unknown:
        raise PipelineConfigError(f"{where}: {{{unknown[0]}}} is not a field; use {{stem}}, {{name}}, {{key}} "
                                  "or {index}")
    if "/" in pattern or "\\" in pattern or pattern.startswith("."):
        raise PipelineConfigError(f"{where}: {pattern!r} must be a plain file name (it goes into the output "
                                  "directory)")
    if not any(pattern.lower().endswith(suffix) for suffix in suffixes):
        raise PipelineConfigError(f"{where}: {pattern!r}: use one of {', '.join(suffixes)}")
    if not names:
        raise PipelineConfigError(f"{where}: {pattern!r} names one file for every source: add {{key}} or {{stem}}")


def _import_path(name: str, where: str) -> Callable:
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise PipelineConfigError(f"{where}: cannot import {module_name!r}: {error}") from None
    try:
        target: Any = module
        for part in attribute.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise PipelineConfigError(f"{where}: {module_name!r} has no {attribute!r}") from None
    if not callable(target):
        raise PipelineConfigError(f"{where}: {name!r} is not a class or factory")
    return target


def _detector_factory(name: str, where: str) -> Callable:
    if ":" in name:
        return _import_path(name, f"{where}.name")
    from . import detect

    factories = {"motion": lambda: detect.MotionDetector, "hog": lambda: detect.HOGPeopleDetector,
                 "mtcnn": lambda: _mtcnn(detect)}
    if name not in factories:
        raise PipelineConfigError(f"{where}.name: unknown detector {name!r}{_did_you_mean(name, DETECTORS)}; "
                                  f"valid: {', '.join(DETECTORS[1:])} or 'package.module:Class'")
    return factories[name]()


def _mtcnn(detect) -> Callable:
    from .cli import _default_device

    def make(**options):
        options.setdefault("device", _default_device())
        options.setdefault("keypoints", True)
        return detect.MTCNNFaceDetector(**options)

    make.__signature__ = inspect.signature(detect.MTCNNFaceDetector)  # type: ignore[attr-defined]
    return make


def _tracker_factory(name: str, where: str) -> Callable:
    if ":" in name:
        return _import_path(name, f"{where}.name")
    from . import track

    if name == "botsort":
        def botsort(**options):
            # the offline detectors' scores sit around 0.5-0.8: ByteTrack's threshold suits them (as the CLI)
            options.setdefault("track_thresh", 0.5)
            return track.BoTSORT(**options)

        botsort.__signature__ = inspect.signature(track.BoTSORT)  # type: ignore[attr-defined]
        return botsort
    factories = {"bytetrack": track.ByteTrack, "sort": track.IoUTracker}
    if name not in factories:
        raise PipelineConfigError(f"{where}.name: unknown tracker {name!r}{_did_you_mean(name, TRACKERS)}; "
                                  f"valid: {', '.join(TRACKERS[1:])} or 'package.module:Class'")
    return factories[name]


def _annotator_factory(name: str, where: str) -> Callable:
    if ":" in name:
        return _import_path(name, f"{where}.name")
    from . import annotate
    from .cli import _ANNOTATORS

    if name not in _ANNOTATORS:
        raise PipelineConfigError(f"{where}: unknown annotator {name!r}{_did_you_mean(name, list(_ANNOTATORS))}; "
                                  f"valid: {', '.join(sorted(_ANNOTATORS))} or 'package.module:Class'")
    return getattr(annotate, _ANNOTATORS[name])


def _check_options(factory: Callable, options: Mapping[str, Any], where: str) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # a builtin without a signature: its own errors will have to do
    try:
        signature.bind_partial(**options)
    except TypeError:
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
        valid = [p.name for p in signature.parameters.values()
                 if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
        bad = [key for key in options if key not in valid]
        if not takes_any and bad:
            raise PipelineConfigError(f"{where}.options.{bad[0]}: not an option of "
                                      f"{getattr(factory, '__name__', factory)}{_did_you_mean(bad[0], valid)}; "
                                      f"valid: {', '.join(valid) or '(none)'}") from None
        raise PipelineConfigError(f"{where}.options: {dict(options)!r} do not fit "
                                  f"{getattr(factory, '__name__', factory)}{signature}") from None


def _build(factory: Callable, options: Mapping[str, Any], where: str, defaults: Mapping[str, Any]) -> Any:
    kwargs = dict(options)
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    for key, value in defaults.items():
        if key in parameters and key not in kwargs:
            kwargs[key] = value
    try:
        return factory(**kwargs)
    except (TypeError, ValueError) as error:
        raise PipelineConfigError(f"{where}.options: {error}") from error


def _build_annotator(spec: PluginSpec, where: str) -> Any:
    return _build(_annotator_factory(spec.name, where), spec.options, where, {})


def _yolox_options(options: Mapping[str, Any], where: str) -> Dict[str, Any]:
    """The detector.options of ``yolox``: the ``--bytetrack``/``--botsort`` keys, typed and
    checked by the same rules as on the command line (YAML values or their text)."""
    from .plugin_options import BOTSORT_KEYS, parse_options

    parts = []
    for key, value in options.items():
        if isinstance(value, (list, tuple)):
            value = "+".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    try:
        return parse_options(";".join(parts), BOTSORT_KEYS, where)
    except ValueError as error:
        raise PipelineConfigError(str(error).replace(f"{where}: ", f"{where}.", 1)) from None


__all__ = ["PipelineConfig", "PipelineConfigError", "PluginSpec", "DETECTORS", "TRACKERS", "PATTERN_FIELDS",
           "PLAYER_KEYS", "pattern_fields"]
