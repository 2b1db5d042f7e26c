"""``vistream generate KIND NAME --model PATH_OR_NAME``: a predictor class wired for a model, plus its test.

Run inside an app made by ``vistream new`` (or pass ``app=``/``--app DIR``). It writes:

- ``APP/NAME.py``: a class (``NAME`` in CamelCase) deriving from the vistream predictor that runs the
  model (``OnnxDetector``, ``TorchClassifier``, ``UltralyticsPredictor``, ``DLCPoseEstimator``,
  ``ByteTrack``...), with the preprocessing and output layout found in the model spelled out, so
  they can be edited;
- ``tests/test_NAME.py``: runs the class on a frame of a clip it generates and checks the result's
  type and shapes;
- a ``[plugins.NAME]`` entry in the app's ``config.toml`` (class and options); ``[detector] use =
  "NAME"`` (or ``[classifier]``/``[tracker]``) selects it, which ``select=True`` (``--select``) does.

How the model is read:

=======================================  =====================================================
``--model``                              what is generated
=======================================  =====================================================
``file.onnx``                            inspected with ONNX Runtime: input size, NCHW/NHWC,
                                         dtype, output shapes → layout (YOLOX, YOLOv8, SSD,
                                         DETR, YOLOv8-seg, classifier logits, DLC heatmaps)
``yolov8n.pt``, ``yolo11n-seg.pt``...    ``UltralyticsPredictor`` (ultralytics names / yaml)
TorchScript ``.pt``/``.pth``/.torchscript  ``TorchDetector``/``TorchSegmenter``/``TorchClassifier``
``package.module:factory``               the same, with ``factory()`` building the nn.Module
a DeepLabCut model folder (or its .pt)   ``DLCPoseEstimator``
``bytetrack`` / ``botsort`` (tracker)    a ``ByteTrack``/``BoTSORT`` subclass with its parameters
=======================================  =====================================================

Example::

    from vistream.scaffold import generate
    written = generate("detector", "foo", "models/yolov8n.onnx", app="demoapp")
"""

from __future__ import annotations

import inspect
import keyword
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import VistreamError

# vistream.predict (numpy, OpenCV) is imported when a model is inspected, not when the CLI starts
LAYOUTS = ("yolov8", "yolov5", "yolox", "ssd", "ssd_nms", "detr", "end2end")  # vistream.predict.LAYOUTS

__all__ = ["generate", "inspect_model", "ModelPlan", "GenerateError", "KINDS", "find_app", "add_generate_arguments",
           "run_generate"]

KINDS = ("detector", "segmenter", "classifier", "pose", "tracker")
TRACKER_BASES = ("bytetrack", "botsort")
ULTRALYTICS_NAME = re.compile(r"^(yolo|rtdetr|sam|fastsam)[\w.-]*\.(pt|yaml|yml)$", re.IGNORECASE)
PathLike = Union[str, "os.PathLike[str]"]


class GenerateError(VistreamError, ValueError):
    """``vistream generate`` cannot wire this model (the message says what it found and what to pass)."""


@dataclass(frozen=True)
class ModelPlan:
    """What ``vistream generate`` found in a model and how it wires it.

    Attributes:
        kind: "detector", "segmenter", "classifier", "pose" or "tracker".
        runtime: "onnx", "torchscript", "torch-factory", "ultralytics", "dlc" or "tracker".
        model: the model as the generated file names it (an absolute path, a name, ``module:factory``).
        base: the vistream class the generated class derives from.
        layout: the output layout (``vistream.predict.LAYOUTS``) of a detector/segmenter, else None.
        input_hw: the model's fixed input (H, W), or None when the graph takes any size.
        channels_last: the input is NHWC (vistream's preprocessors make NCHW: transposed in the file).
        input_dtype: the input's numpy dtype name ("float32", "float16", "uint8").
        outputs: (name, shape) of each output, as the model declares them.
        preprocess: the preprocessing as Python source (None: the base class's own).
        notes: what the generated file's docstring says about the model.
    """

    kind: str
    runtime: str
    model: str
    base: str
    layout: Optional[str] = None
    input_hw: Optional[Tuple[int, int]] = None
    channels_last: bool = False
    input_dtype: str = "float32"
    outputs: Tuple[Tuple[str, Tuple[Any, ...]], ...] = ()
    preprocess: Optional[str] = None
    notes: Tuple[str, ...] = field(default_factory=tuple)


# -- inspecting models ---------------------------------------------------------------------------

_LAYOUT_NOTES = {
    "yolov8": "(1, 4+C, N): cx cy w h + class scores (YOLOv8/v11); best class, threshold, per-class NMS",
    "yolov5": "(1, N, 5+C): cx cy w h, objectness, class probabilities; score = obj x class, NMS",
    "yolox": "(1, N, 5+C) as YOLOv5, with YOLOX' preprocessing (BGR 0-255, padded right/bottom)",
    "ssd": "boxes (1, N, 4) + scores (1, N, C); best class, threshold, NMS",
    "ssd_nms": "boxes + scores + labels (NMS in the graph); threshold only",
    "detr": "logits (1, Q, C+1) + normalised boxes (1, Q, 4); softmax, drop 'no object'",
    "end2end": "(1, K, 6): x1 y1 x2 y2 score class (NMS in the graph); threshold only",
}


def _dims(shape: Sequence[Any]) -> Tuple[Any, ...]:
    return tuple(int(d) if isinstance(d, int) and d > 0 else (d if isinstance(d, str) else None) for d in shape)


def _layout_error(error: Exception, model: str) -> GenerateError:
    text = str(error).replace("Pass layout= one of", "choose it with --layout, one of").replace(
        " (or your own postprocess=)", "")
    return GenerateError(f"{model}: {text}")


def _preprocess_source(kind: str, layout: Optional[str], hw: Tuple[int, int], dtype: str,
                       metadata: Dict[str, str]) -> str:
    """The preprocessing the layout's models are trained with, as source (``default_preprocess``'s choice)."""
    size = f"({hw[0]}, {hw[1]})"
    if kind == "classifier":
        return f"ImageNetPreprocess({size})"
    scale = "1.0" if dtype == "uint8" else "1 / 255"  # a uint8 input takes 0-255 pixels as they are
    if layout == "yolox":
        if str(metadata.get("vistream.model", "")).endswith("_mix_det"):
            return f"Letterbox({size}, center=False, rgb=True, scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD)"
        return f"Letterbox({size}, center=False, rgb=False, scale=1.0)"
    if layout in ("ssd", "ssd_nms"):
        return f"Resize({size}, rgb=True, scale={scale})"
    if layout == "detr":
        return f"Resize({size}, rgb=True, scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD)"
    return f"Letterbox({size}, center=True, rgb=True, scale={scale})"


def _inspect_onnx(kind: str, path: Path, layout: Optional[str]) -> ModelPlan:
    from ..predict import postprocess as post
    from ..predict.runtime import onnx_session

    session = onnx_session(path, "cpu", feature="vistream generate (reading an ONNX model)")
    inputs = session.get_inputs()
    metadata = dict(session.get_modelmeta().custom_metadata_map or {})
    outputs = tuple((o.name, _dims(o.shape)) for o in session.get_outputs())
    described = ", ".join(f"{name}{shape}" for name, shape in outputs)
    if kind == "pose":
        from ..pose.estimator import DLCPoseEstimator

        try:
            estimator = DLCPoseEstimator(path, runtime="onnx")
        except (ValueError, VistreamError) as error:
            raise GenerateError(f"{path}: not a DeepLabCut pose model vistream can run ({error}); outputs: "
                                f"{described}") from None
        return ModelPlan("pose", "dlc", str(path), "DLCPoseEstimator", outputs=outputs,
                         notes=(f"DeepLabCut heatmaps + location refinement, bodyparts {list(estimator.bodyparts)}",))
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise GenerateError(f"{path}: expected one image input (1, 3, H, W) or (1, H, W, 3), got "
                            + ", ".join(f"{i.name}{_dims(i.shape)}" for i in inputs))
    shape = _dims(inputs[0].shape)
    dtype = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8"}.get(inputs[0].type)
    if dtype is None:
        raise GenerateError(f"{path}: input {inputs[0].name} is {inputs[0].type}; vistream feeds float32, "
                            "float16 or uint8 images")
    channels_last = shape[3] == 3 and shape[1] != 3
    if shape[1] != 3 and not channels_last:
        raise GenerateError(f"{path}: input {inputs[0].name}{shape} has no axis of 3 colour channels "
                            "(expected (1, 3, H, W) or (1, H, W, 3))")
    h, w = shape[1:3] if channels_last else shape[2:4]
    fixed = (h, w) if isinstance(h, int) and isinstance(w, int) else None
    notes = [f"input {inputs[0].name}{shape} {dtype}, {'NHWC' if channels_last else 'NCHW'}"
             + ("" if fixed else " (any size: the preprocessing below picks it)")]
    notes += [f"output {name}{shape_}" for name, shape_ in outputs]
    default_hw = fixed or ((224, 224) if kind == "classifier" else (640, 640))
    found_layout: Optional[str] = None
    if kind in ("detector", "segmenter"):
        if layout is not None:
            if layout not in post.LAYOUTS:
                raise GenerateError(f"--layout {layout!r}: one of {', '.join(post.LAYOUTS)}")
            found_layout = layout
        else:
            try:
                found_layout = post.detect_layout([n for n, _ in outputs], [s for _, s in outputs], metadata,
                                                  segmentation=kind == "segmenter")
            except post.LayoutError as error:
                if kind != "segmenter":
                    raise _layout_error(error, str(path)) from None
                found_layout = None
        if kind == "segmenter" and found_layout != "yolov8":
            raise GenerateError(f"{path}: a segmenter needs YOLOv8-seg outputs (predictions (1, 4+C+M, N) and "
                                f"prototypes (1, M, h, w)); found {described}")
        notes.append(f"layout {found_layout!r}: " + (_LAYOUT_NOTES[found_layout] if kind == "detector" else
                     "YOLOv8-seg: (1, 4+C+M, N) predictions + (1, M, h, w) prototypes; masks cropped to boxes"))
    elif kind == "classifier":
        if len(outputs) != 1 or len([d for d in outputs[0][1] if d != 1]) > 1:
            raise GenerateError(f"{path}: a classifier has one (1, C) logits/probabilities output, found {described}")
        notes.append("classifier: (1, C) scores, softmax unless already probabilities, top-k")
    base = {"detector": "OnnxDetector", "segmenter": "OnnxSegmenter", "classifier": "OnnxClassifier"}[kind]
    if channels_last:
        base = {"OnnxDetector": "ModelDetector", "OnnxSegmenter": "ModelSegmenter",
                "OnnxClassifier": "ModelClassifier"}[base]
    return ModelPlan(kind, "onnx", str(path), base, found_layout, fixed, channels_last, dtype, outputs,
                     _preprocess_source(kind, found_layout, default_hw, dtype, metadata), tuple(notes))


def _load_torch_module(model: str) -> Tuple[Any, str]:
    """The nn.Module a TorchScript file or a ``module:factory`` spec gives, and which of the two it was."""
    import torch

    path = Path(model)
    if path.is_file():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch's TorchScript deprecation notice
                return torch.jit.load(str(path), map_location="cpu").eval(), "torchscript"
        except RuntimeError:
            pass
        try:
            content = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception:
            raise GenerateError(
                f"{model}: a pickled torch module; vistream does not unpickle code. Save it as TorchScript "
                "(torch.jit.script(model).save(PATH)) or pass --model package.module:factory (a function "
                "returning the nn.Module)") from None
        raise GenerateError(f"{model}: holds {type(content).__name__} (weights, not a network): pass --model "
                            "package.module:factory, a function that builds the nn.Module and loads these weights")
    module_name, _, attribute = model.partition(":")
    import importlib

    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise GenerateError(f"--model {model}: cannot import it ({error})") from None
    module = factory() if not isinstance(factory, torch.nn.Module) else factory
    if not isinstance(module, torch.nn.Module):
        raise GenerateError(f"--model {model} gave {type(module).__name__}, not a torch.nn.Module")
    return module.eval(), "torch-factory"


def _inspect_torch(kind: str, model: str, layout: Optional[str], imgsz: Optional[int]) -> ModelPlan:
    from ..predict import TorchClassifier, TorchDetector, TorchSegmenter
    from ..predict import postprocess as post

    module, runtime = _load_torch_module(model)
    base = {"detector": "TorchDetector", "segmenter": "TorchSegmenter", "classifier": "TorchClassifier"}.get(kind)
    if base is None:
        raise GenerateError(f"a torch module as a {kind}: generate a detector, segmenter or classifier "
                            "(pose runs DeepLabCut folders/ONNX files, or ultralytics -pose models)")
    size = imgsz or (224 if kind == "classifier" else 640)
    notes = [f"{'TorchScript file' if runtime == 'torchscript' else 'module factory'}; input {size}x{size}"]
    found_layout = None
    if kind == "classifier":
        TorchClassifier(module, imgsz=size)
    else:
        try:
            cls = TorchSegmenter if kind == "segmenter" else TorchDetector
            found_layout = cls(module, imgsz=size, layout=layout or "auto").layout  # one dummy run
        except post.LayoutError as error:
            raise _layout_error(error, model) from None
        notes.append(f"layout {found_layout!r}")
    model_text = str(Path(model).resolve()) if runtime == "torchscript" else model
    return ModelPlan(kind, runtime, model_text, base, found_layout, (size, size), notes=tuple(notes),
                     preprocess=_preprocess_source(kind, found_layout, (size, size), "float32", {}))


def inspect_model(kind: str, model: Optional[str], layout: Optional[str] = None,
                  imgsz: Optional[int] = None) -> ModelPlan:
    """How ``vistream generate`` wires ``model`` as a ``kind`` (see the module doc); raises GenerateError."""
    if kind not in KINDS:
        raise GenerateError(f"cannot generate a {kind!r}: one of {', '.join(KINDS)}")
    if kind == "tracker":
        base = (model or "bytetrack").lower()
        if base not in TRACKER_BASES:
            raise GenerateError(f"a tracker derives from bytetrack or botsort (--model bytetrack|botsort), got {model!r}")
        return ModelPlan("tracker", "tracker", base, {"bytetrack": "ByteTrack", "botsort": "BoTSORT"}[base])
    if not model:
        raise GenerateError(f"generate {kind} needs --model PATH_OR_NAME")
    path = Path(model)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise FileNotFoundError(f"no ONNX model at {model}")
        return _inspect_onnx(kind, path.resolve(), layout)
    if path.is_dir():
        if kind != "pose":
            raise GenerateError(f"{model} is a folder: as a DeepLabCut model it makes a pose estimator "
                                f"(vistream generate pose NAME --model {model})")
        from ..pose.model import find_model, model_summary

        files = find_model(path)
        from ..pose.model import load_weights

        config = load_weights(files)[0] if files.weights is not None else None
        bodyparts = model_summary(config)["bodyparts"] if config else []
        return ModelPlan("pose", "dlc", str(path.resolve()), "DLCPoseEstimator",
                         notes=(f"DeepLabCut model folder, bodyparts {list(bodyparts)}",))
    if ULTRALYTICS_NAME.match(path.name) and kind != "tracker":
        return ModelPlan(kind, "ultralytics", str(path.resolve()) if path.is_file() else model,
                         "UltralyticsPredictor", notes=("an ultralytics model (detect/segment/classify/pose by its task)",))
    if path.is_file() or (":" in model and not path.exists()):
        if kind == "pose" and path.suffix == ".pt":
            return ModelPlan("pose", "dlc", str(path.resolve()), "DLCPoseEstimator",
                             notes=("DeepLabCut exported .pt",))
        return _inspect_torch(kind, model, layout, imgsz)
    raise FileNotFoundError(f"--model {model}: no such file or folder, and not an ultralytics name (yolov8n.pt) "
                            "or a package.module:factory")


# -- writing files -----------------------------------------------------------------------------

def find_app(app: Optional[PathLike] = None) -> Tuple[Path, str]:
    """The app folder (``app`` or the working directory) and its package name; GenerateError if it is no app."""
    folder = Path(app) if app is not None else Path.cwd()
    config = folder / "config.toml"
    packages = sorted(p.parent.name for p in folder.glob("*/app.py") if (p.parent / "__init__.py").is_file())
    if not config.is_file() or len(packages) != 1:
        raise GenerateError(f"{folder.resolve()} is not an app made by `vistream new` (no config.toml beside one "
                            "APP/app.py package): run it inside the app or pass --app DIR")
    return folder, packages[0]


def class_name_for(name: str) -> str:
    """``foo`` → ``Foo``, ``person_detector`` → ``PersonDetector``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or name


def _doc_block(plan: ModelPlan, command: str) -> str:
    lines = [f"Made by `{command}`.", "", "What the model holds (as vistream read it):"]
    lines += [f"    {note}" for note in plan.notes] or ["    (nothing to inspect)"]
    return "\n".join(lines)


_CHANNELS_LAST = '''

class ChannelsLastRuntime(OnnxRuntime):
    """This model takes NHWC images: vistream's preprocessing makes NCHW batches, transposed here."""

    @property
    def input_hw(self) -> Optional[Tuple[int, int]]:
        h, w = self.input_shape[1:3]
        return (h, w) if isinstance(h, int) and isinstance(w, int) else None

    def __call__(self, batch: Any) -> List[Any]:
        return super().__call__(np.ascontiguousarray(np.asarray(batch).transpose(0, 2, 3, 1)))
'''


def _model_line(plan: ModelPlan, app_folder: Optional[Path]) -> str:
    """``MODEL = ...``: a file inside the app is named relative to the module, so the app can move."""
    if app_folder is not None and os.path.isabs(plan.model):
        try:
            inside = Path(plan.model).relative_to(app_folder.resolve())
        except ValueError:
            inside = None
        if inside is not None:
            return ("#: the model, inside the app (override with model=...)\n"
                    f"MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "
                    f"{inside.as_posix()!r})\n")
    return f"#: the model (override with model=...)\nMODEL = {plan.model!r}\n"


def _predictor_source(plan: ModelPlan, class_name: str, command: str, app_folder: Optional[Path] = None) -> str:
    doc = _doc_block(plan, command)
    kind = plan.kind
    shown = Path(plan.model).name if os.path.isabs(plan.model) else plan.model
    what = f"{plan.runtime}" + (f", layout {plan.layout}" if plan.layout else "")
    header = (f'"""{class_name}: a vistream {kind} for {shown} ({what}).\n\n{doc}\n"""\n\n'
              "from __future__ import annotations\n\n")
    model_line = _model_line(plan, app_folder)
    if plan.runtime == "tracker":
        from ..track import BoTSORT, ByteTrack

        base_class = {"ByteTrack": ByteTrack, "BoTSORT": BoTSORT}[plan.base]
        params = [p for p in inspect.signature(base_class.__init__).parameters.values() if p.name != "self"]
        signature = ",\n                 ".join(f"{p.name}={p.default!r}" for p in params)
        passing = ", ".join(f"{p.name}={p.name}" for p in params)
        return (f'"""{class_name}: a {plan.base} tracker with this app\'s parameters.\n\n'
                f"Made by `{command}`. Edit the defaults below, or hook into update().\n" + '"""\n\n'
                "from __future__ import annotations\n\nfrom typing import Any, Optional\n\nimport numpy as np\n\n"
                f"import vistream as vs\nfrom vistream.track import {plan.base}\n\n\n"
                f"class {class_name}({plan.base}):\n"
                f'    """{plan.base} ({", ".join(p.name for p in params)}); see vistream.track.{plan.base}."""\n\n'
                f"    def __init__(self, {signature}) -> None:\n"
                f"        super().__init__({passing})\n\n"
                "    def update(self, detections: Optional[vs.Detections], frame: Optional[np.ndarray] = None,\n"
                "               **options: Any) -> vs.Detections:\n"
                '        """Tracks one frame: filter the detections before association or the tracks after, here."""\n'
                "        return super().update(detections, frame=frame, **options)\n")
    if plan.runtime == "ultralytics":
        return (header + "import os\nfrom typing import Any\n\nfrom vistream.predict import UltralyticsPredictor\n\n"
                + model_line + "\n\n" + f"class {class_name}(UltralyticsPredictor):\n"
                f'    """The ultralytics model {plan.model} (its task decides: boxes, masks, classes or keypoints)."""\n\n'
                "    def __init__(self, model: str = MODEL, *, conf: float = 0.25, iou: float = 0.7, **options: Any) -> None:\n"
                "        super().__init__(model, conf=conf, iou=iou, **options)\n")
    if plan.runtime == "dlc":
        return (header + "import os\nfrom typing import Any\n\nfrom vistream.pose import DLCPoseEstimator\n\n"
                + model_line + "\n\n" + f"class {class_name}(DLCPoseEstimator):\n"
                '    """DeepLabCut pose: keypoints per frame (Detections with keypoints; estimate() gives a Pose)."""\n\n'
                "    def __init__(self, model: str = MODEL, *, pcutoff: float = 0.5, **options: Any) -> None:\n"
                "        super().__init__(model, pcutoff=pcutoff, **options)\n")
    preprocess_names = sorted({name for name in ("Letterbox", "Resize", "ImageNetPreprocess")
                               if plan.preprocess and plan.preprocess.startswith(name)})
    constants = ["IMAGENET_MEAN", "IMAGENET_STD"] if plan.preprocess and "IMAGENET_MEAN" in plan.preprocess else []
    options = ("conf: float = 0.25, iou: float = 0.45, " if kind != "classifier" else "top_k: int = 5, ")
    forwarded = ("conf=conf, iou=iou" if kind != "classifier" else "top_k=top_k")
    layout = f"layout={plan.layout!r}, " if plan.layout else ""
    if plan.runtime == "onnx":
        imports = [plan.base] + (["OnnxRuntime"] if plan.channels_last else []) + preprocess_names
        text = header + "import os\nfrom typing import Any, List, Optional, Tuple, Union\n\n"
        text += "import numpy as np\n\n" if plan.channels_last else ""
        text += f"from vistream.predict import {', '.join(imports)}\n"
        if constants:
            text += f"from vistream.predict.preprocess import {', '.join(constants)}\n"
        text += "\n" + model_line + (_CHANNELS_LAST if plan.channels_last else "") + "\n\n"
        source = "ChannelsLastRuntime(model, device)" if plan.channels_last else "model"
        device = "" if plan.channels_last else "device=device, "
        text += (f"class {class_name}({plan.base}):\n"
                 f'    """{kind.capitalize()} for {Path(plan.model).name}: preprocessing and decoding as found in the model."""\n\n'
                 f"    def __init__(self, model: Union[str, os.PathLike] = MODEL, *, {options.rstrip()}\n"
                 "                 device: str = \"cpu\", **options: Any) -> None:\n"
                 f"        options.setdefault(\"preprocess\", {plan.preprocess})\n"
                 f"        super().__init__({source}, {layout}{forwarded}, {device}**options)\n")
        return text
    # torch: a TorchScript file or a module factory
    imports = [plan.base] + preprocess_names
    text = header + "import os\nfrom typing import Any\n\n"
    if plan.runtime == "torchscript":
        text += "import torch\n\n"
    else:
        module_name, _, attribute = plan.model.partition(":")
        text += f"from {module_name} import {attribute}\n"
    text += f"from vistream.predict import {', '.join(imports)}\n"
    if constants:
        text += f"from vistream.predict.preprocess import {', '.join(constants)}\n"
    text += "\n" + model_line + "\n\n"
    build = ("torch.jit.load(model, map_location=\"cpu\")" if plan.runtime == "torchscript"
             else f"{plan.model.partition(':')[2]}()")
    size = plan.input_hw[0] if plan.input_hw else 640
    # a factory builds the network itself (its import is above): no model path to override
    model_parameter = "model: str = MODEL, " if plan.runtime == "torchscript" else ""
    if not model_parameter:
        text = text.replace("#: the model (override with model=...)\n", "#: the network's factory\n")
    text += (f"class {class_name}({plan.base}):\n"
             f'    """{kind.capitalize()} running a torch module: preprocessing and decoding as found in the model."""\n\n'
             f"    def __init__(self, {model_parameter}*, {options}device: str = \"cpu\", precision: str = \"fp32\",\n"
             "                 **options: Any) -> None:\n"
             f"        options.setdefault(\"preprocess\", {plan.preprocess})\n"
             f"        super().__init__({build}, {layout}{forwarded}, device=device, precision=precision,\n"
             f"                         imgsz={size}, **options)\n")
    return text


_TEST_HEADER = '''"""{class_name} on a frame of a clip made here: the result's type and shapes (made by `vistream generate`)."""

from __future__ import annotations

import numpy as np
import pytest

import vistream as vs

from {package}.{name} import {class_name}


@pytest.fixture
def frame(tmp_path):
    """A frame of a generated clip: moving bright and coloured shapes on a textured background."""
    path = tmp_path / "clip.mp4"
    rows, cols = np.mgrid[0:240, 0:320]
    with vs.Writer(str(path), fps=10) as writer:
        for index in range(3):
            image = np.stack([(cols + 8 * index) % 256, (rows * 2) % 256, (cols + rows) % 256], -1).astype(np.uint8)
            image[60:140, 40 + 20 * index:120 + 20 * index] = (40, 40, 230)
            writer.write(image)
    with vs.Reader(str(path)) as reader:
        return reader.frames_at([2])[0].array.copy()

'''

_TESTS = {
    "detector": '''
def test_{name}_finds_boxes_in_the_frame(frame):
    predictor = {class_name}(conf=0.0)
    assert isinstance(predictor, vs.Detector)
    detections = predictor(frame)
    assert isinstance(detections, vs.Detections)
    n = len(detections)
    assert detections.xyxy.shape == (n, 4) and detections.confidence.shape == (n,) and detections.class_id.shape == (n,)
    height, width = frame.shape[:2]
    assert (detections.xyxy >= 0).all() and (detections.xyxy[:, [0, 2]] <= width).all()
    assert (detections.xyxy[:, [1, 3]] <= height).all()
''',
    "segmenter": '''
def test_{name}_gives_a_mask_per_box(frame):
    predictor = {class_name}(conf=0.0)
    assert isinstance(predictor, vs.Segmenter)
    detections = predictor(frame)
    assert isinstance(detections, vs.Detections)
    n = len(detections)
    assert detections.xyxy.shape == (n, 4)
    if n:
        assert detections.mask.shape == (n, *frame.shape[:2])
''',
    "classifier": '''
def test_{name}_ranks_the_classes_of_the_frame(frame):
    predictor = {class_name}(top_k=3)
    assert isinstance(predictor, vs.Classifier)
    result = predictor(frame)
    assert isinstance(result, vs.Classifications) and len(result) == 1
    assert result.class_id.shape == result.confidence.shape == (1, result.k) and 1 <= result.k <= 3
    assert (np.diff(result.confidence[0]) <= 0).all()
    assert ((result.confidence >= 0) & (result.confidence <= 1)).all()
''',
    "pose": '''
def test_{name}_gives_keypoints(frame):
    predictor = {class_name}()
    detections = predictor(frame)
    assert isinstance(detections, vs.Detections)
    if len(detections):
        assert detections.keypoints is not None and detections.keypoints.shape[0] == len(detections)
        assert detections.keypoints.shape[-1] in (2, 3)
''',
    "tracker": '''
def test_{name}_keeps_one_id_on_a_moving_box():
    tracker = {class_name}(frame_rate=10)
    assert isinstance(tracker, vs.Tracker)
    ids = []
    for step in range(5):
        x = 40.0 + 4 * step
        tracked = tracker.update(vs.Detections(xyxy=[[x, 50, x + 40, 130]], confidence=[0.9]))
        ids += [] if tracked.tracker_id is None else tracked.tracker_id.tolist()
    assert len(ids) >= 3 and len(set(ids)) == 1
''',
}


_SECTIONS = {"detector": "detector", "segmenter": "detector", "pose": "detector", "classifier": "classifier",
             "tracker": "tracker"}


def _config_entry(plan: ModelPlan, package: str, name: str, class_name: str, command: str) -> str:
    section = _SECTIONS[plan.kind]
    return (f"\n# {command}\n# select it with [{section}] use = \"{name}\"\n"
            f"[plugins.{name}]\nrole = \"{section}\"\nclass = \"{package}.{name}:{class_name}\"\noptions = {{}}\n")


def _select(config_text: str, section: str, name: str) -> str:
    """``use = "name"`` in ``[section]`` (replacing a ``use`` there; adding the section when missing)."""
    lines = config_text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f"[{section}]"), None)
    if start is None:
        return config_text.rstrip("\n") + f"\n\n[{section}]\nuse = \"{name}\"\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    for i in range(start + 1, end):
        if re.match(r"\s*use\s*=", lines[i]):
            lines[i] = f'use = "{name}"'
            break
    else:
        lines.insert(start + 1, f'use = "{name}"')
    return "\n".join(lines) + "\n"


def generate(kind: str, name: str, model: Optional[str] = None, *, app: Optional[PathLike] = None,
             layout: Optional[str] = None, imgsz: Optional[int] = None, select: bool = False,
             force: bool = False) -> List[Path]:
    """Adds the predictor ``name`` of ``kind`` for ``model`` to the app; returns the files written.

    Args:
        kind: "detector", "segmenter", "classifier", "pose" or "tracker".
        name: a Python identifier: the module ``APP/name.py`` and (CamelCase) the class.
        model: an .onnx file, an ultralytics name, a TorchScript file, ``package.module:factory``, a
            DeepLabCut model folder; for a tracker "bytetrack" (default) or "botsort".
        app: the app's folder (default: the working directory).
        layout: the output layout of a detector/segmenter whose outputs fit none or several.
        imgsz: input size of a torch module (default 640; 224 for classifiers).
        select: make the app use it (``[detector]``/``[classifier]``/``[tracker]`` ``use = "name"``).
        force: replace existing files of that name.

    Raises:
        GenerateError: not an app, a bad name, a model that cannot be wired (the message says why and
            which option helps, e.g. ``--layout``); FileExistsError: the files exist (without ``force``);
        FileNotFoundError: no such model.
    """
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise GenerateError(f"name {name!r}: use a Python module name (letters, digits, _), e.g. 'foo'")
    folder, package = find_app(app)
    if name in (package, "app", "predictor", "tests", "vistream"):
        raise GenerateError(f"name {name!r} would replace or shadow a module of the app: choose another")
    targets = [folder / package / f"{name}.py", folder / "tests" / f"test_{name}.py"]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(existing)} exist (use --force to replace them)")
    plan = inspect_model(kind, model, layout=layout, imgsz=imgsz)
    class_name = class_name_for(name)
    command = f"vistream generate {kind} {name}" + (f" --model {model}" if model else "") + (
        f" --layout {layout}" if layout else "")
    targets[0].write_text(_predictor_source(plan, class_name, command, folder), encoding="utf-8")
    fields = {"name": name, "class_name": class_name, "package": package}
    test = _TEST_HEADER.format(**fields) + _TESTS[kind].format(**fields)
    if kind == "tracker":
        test = test.replace("import pytest\n", "").split("@pytest.fixture")[0].rstrip() + "\n\n" + \
            _TESTS[kind].format(**fields)
    targets[1].parent.mkdir(exist_ok=True)
    targets[1].write_text(test, encoding="utf-8")
    config = folder / "config.toml"
    text = config.read_text(encoding="utf-8")
    if f"[plugins.{name}]" not in text:
        text = text.rstrip("\n") + "\n" + _config_entry(plan, package, name, class_name, command)
    if select:
        text = _select(text, _SECTIONS[kind], name)
    config.write_text(text, encoding="utf-8")
    return targets + [config]


# -- command line ------------------------------------------------------------------------------

def add_generate_arguments(parser: Any) -> None:
    """The ``vistream generate`` arguments."""
    parser.add_argument("kind", choices=KINDS, help="what the class is")
    parser.add_argument("name", help="module and class name in the app (foo → APP/foo.py, class Foo)")
    parser.add_argument("--model", metavar="PATH_OR_NAME",
                        help="an .onnx file, ultralytics name (yolov8n.pt), TorchScript file, package.module:factory, "
                             "DeepLabCut model folder; tracker: bytetrack (default) or botsort")
    parser.add_argument("--app", metavar="DIR", help="the app's folder (default: here)")
    parser.add_argument("--layout", choices=LAYOUTS, help="the detector's output layout, when it cannot be told")
    parser.add_argument("--imgsz", type=int, help="input size of a torch module (default 640; classifiers 224)")
    parser.add_argument("--select", action="store_true", help="make the app use it ([detector] use = NAME ...)")
    parser.add_argument("--force", action="store_true", help="replace existing files of that name")


def run_generate(args: Any) -> int:
    """``vistream generate``: writes the files and says what was found."""
    written = generate(args.kind, args.name, args.model, app=args.app, layout=args.layout, imgsz=args.imgsz,
                       select=args.select, force=args.force)
    plan_line = written[0].read_text(encoding="utf-8").split('"""')[1].strip().splitlines()[0]
    print(f"generated {plan_line}")
    for path in written:
        print(f"  {path}")
    return 0
