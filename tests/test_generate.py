"""Issue 13: `vistream new demoapp && vistream generate detector foo --model some.onnx` adds a predictor
that runs: the generator reads a real ONNX file's inputs and outputs with ONNX Runtime, picks the
preprocessing and the postprocessor of its layout, writes a class and its test into the app, and
the app's own pytest passes.

The models are tiny torch modules exported with ``torch.onnx.export``, one per output layout
(YOLOv8 ``(1, 4+C, N)``, SSD boxes + scores, DETR logits + boxes, YOLOv8-seg with prototypes,
classifier logits, an NHWC classifier, and an ambiguous ``(1, K, 6)`` output). Their outputs are
computed from the pixels (pooled colour values), so a preprocessing mistake changes the results.
The generated classes are compared with ``OnnxDetector``/``OnnxSegmenter``/``OnnxClassifier`` (and
a hand-run ONNX Runtime session for the NHWC model) on a frame of the test clip."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import vistream as vs
from vistream.predict import OnnxClassifier, OnnxDetector, OnnxSegmenter
from vistream.scaffold import GenerateError, create_app, generate, inspect_model

N, C, M = 100, 3, 4  # anchors, classes, mask coefficients


def _grid_boxes(x: torch.Tensor):
    """(1, C, 100) pooled colours of a 10x10 grid and the grid cells' centres (32 px cells of 320)."""
    pooled = nn.functional.adaptive_avg_pool2d(x[:, :3], (10, 10)).flatten(2)
    cells = torch.arange(N, dtype=torch.float32)
    return pooled, (cells % 10) * 32 + 16, torch.div(cells, 10, rounding_mode="floor") * 32 + 16


class YoloV8Like(nn.Module):
    def forward(self, x):
        pooled, cx, cy = _grid_boxes(x)
        boxes = torch.stack([cx, cy, 20 + 40 * pooled[0, 0], 20 + 30 * pooled[0, 1]])[None]
        return torch.cat([boxes, pooled], 1)  # (1, 4 + C, N)


class SsdLike(nn.Module):
    def forward(self, x):
        pooled, cx, cy = _grid_boxes(x)
        half = 10 + 20 * pooled[0, 2]
        boxes = torch.stack([cx - half, cy - half, cx + half, cy + half], -1)[None]  # (1, N, 4) pixels
        return boxes, pooled.transpose(1, 2)  # scores (1, N, C)


class DetrLike(nn.Module):
    def forward(self, x):
        pooled, cx, cy = _grid_boxes(x)
        # four classes (the fourth: "not red") + "no object": (1, Q, 5), unlike the (1, Q, 4) boxes
        logits = torch.cat([pooled * 8, 4 - 4 * pooled[:, :1], torch.full_like(pooled[:, :1], 2.0)], 1).transpose(1, 2)
        boxes = torch.stack([cx / 320, cy / 320, 0.1 + 0.1 * pooled[0, 0], 0.1 + 0.1 * pooled[0, 1]], -1)[None]
        return logits, boxes


class SegLike(nn.Module):
    def forward(self, x):
        predictions = YoloV8Like()(x)
        coefficients = predictions[:, 4:6].repeat(1, 2, 1) * 4 - 1  # (1, M, N)
        protos = nn.functional.adaptive_avg_pool2d(x, (80, 80)).repeat(1, 2, 1, 1)[:, :M] * 2 - 1  # (1, M, 80, 80)
        return torch.cat([predictions, coefficients], 1), protos


class Ambiguous(nn.Module):
    def forward(self, x):
        pooled, cx, cy = _grid_boxes(x)
        rows = torch.stack([cx - 8, cy - 8, cx + 8, cy + 8, pooled[0, 0], torch.zeros_like(cx)], -1)[:12]
        return rows[None]  # (1, 12, 6): end-to-end rows, or a one-class YOLOv5


class Colours(nn.Module):
    """Logits of (blue, green, red)-ness: the channel means."""

    def __init__(self, channels_last: bool = False):
        super().__init__()
        self.channels_last = channels_last

    def forward(self, x):
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        return x.mean((2, 3)) * 5


def _export(module, path, shape, names):
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), (torch.rand(*shape),), str(path), input_names=["images"],
                          output_names=names, opset_version=17, dynamo=False)
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generate-models")
    return {
        "yolov8": _export(YoloV8Like(), folder / "yolov8.onnx", (1, 3, 320, 320), ["output0"]),
        "ssd": _export(SsdLike(), folder / "ssd.onnx", (1, 3, 320, 320), ["boxes", "scores"]),
        "detr": _export(DetrLike(), folder / "detr.onnx", (1, 3, 320, 320), ["pred_logits", "pred_boxes"]),
        "seg": _export(SegLike(), folder / "seg.onnx", (1, 3, 320, 320), ["output0", "output1"]),
        "ambiguous": _export(Ambiguous(), folder / "ambiguous.onnx", (1, 3, 320, 320), ["output0"]),
        "classifier": _export(Colours(), folder / "colours.onnx", (1, 3, 64, 64), ["logits"]),
        "nhwc": _export(Colours(channels_last=True), folder / "colours_nhwc.onnx", (1, 64, 64, 3), ["logits"]),
    }


@pytest.fixture(scope="module")
def frame(test_mp4):
    with vs.Reader(str(test_mp4)) as reader:
        return reader.frames_at([30])[0].array.copy()


@pytest.fixture
def app(tmp_path):
    """A fresh `vistream new demoapp`, importable in this process (removed from sys.modules after)."""
    folder = create_app("demoapp", tmp_path)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    for name in [n for n in sys.modules if n == "demoapp" or n.startswith("demoapp.")]:
        del sys.modules[name]


def _cli(*args, cwd):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "vistream", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=240, env=env)


def _same(ours: vs.Detections, reference: vs.Detections):
    assert len(ours) == len(reference) > 0
    np.testing.assert_array_equal(ours.xyxy, reference.xyxy)
    np.testing.assert_array_equal(ours.confidence, reference.confidence)
    np.testing.assert_array_equal(ours.class_id, reference.class_id)


def test_generated_predictors_match_the_generic_ones_and_the_app_tests_pass(app, models, frame, marker_model):
    ran = _cli("generate", "detector", "foo", "--model", models["yolov8"], cwd=app)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0] == "generated Foo: a vistream detector for yolov8.onnx (onnx, layout yolov8)."
    source = (app / "demoapp" / "foo.py").read_text()
    assert "input images(1, 3, 320, 320) float32, NCHW" in source and "output output0(1, 7, 100)" in source
    assert "Letterbox((320, 320), center=True, rgb=True, scale=1 / 255)" in source
    assert '[plugins.foo]\nrole = "detector"\nclass = "demoapp.foo:Foo"' in (app / "config.toml").read_text()

    generate("detector", "boxes", models["ssd"], app=app)
    generate("detector", "queries", models["detr"], app=app)
    generate("segmenter", "masks", models["seg"], app=app)
    generate("classifier", "colours", models["classifier"], app=app)
    generate("classifier", "colours_nhwc", models["nhwc"], app=app)
    generate("tracker", "follow", "botsort", app=app)
    generate("pose", "markers", str(marker_model), app=app)

    from demoapp.boxes import Boxes
    from demoapp.colours import Colours as GeneratedColours
    from demoapp.colours_nhwc import ColoursNhwc
    from demoapp.foo import Foo
    from demoapp.masks import Masks
    from demoapp.queries import Queries

    _same(Foo(conf=0.3)(frame), OnnxDetector(models["yolov8"], conf=0.3)(frame))
    assert Boxes().layout == "ssd" and Queries().layout == "detr"
    _same(Boxes(conf=0.3)(frame), OnnxDetector(models["ssd"], conf=0.3)(frame))
    _same(Queries(conf=0.2)(frame), OnnxDetector(models["detr"], conf=0.2)(frame))
    ours, reference = Masks(conf=0.3)(frame), OnnxSegmenter(models["seg"], conf=0.3)(frame)
    _same(ours, reference)
    np.testing.assert_array_equal(ours.mask, reference.mask)
    assert GeneratedColours(top_k=3)(frame) == OnnxClassifier(models["classifier"], top_k=3)(frame)

    # NHWC: the generated runtime transposes vistream's NCHW batch; the reference feeds the session by hand
    import onnxruntime

    from vistream.predict import ImageNetPreprocess

    batch, _ = ImageNetPreprocess((64, 64))(frame)
    session = onnxruntime.InferenceSession(models["nhwc"], providers=["CPUExecutionProvider"])
    logits = session.run(None, {"images": batch.transpose(0, 2, 3, 1).copy()})[0][0]
    expected = vs.Classifications.from_scores(np.exp(logits) / np.exp(logits).sum(), k=3)
    nhwc = ColoursNhwc(top_k=3)(frame)
    np.testing.assert_array_equal(nhwc.class_id, expected.class_id)
    np.testing.assert_allclose(nhwc.confidence, expected.confidence, atol=1e-6)
    assert "NHWC" in (app / "demoapp" / "colours_nhwc.py").read_text()

    # the app's own tests: its pipeline test plus one per generated predictor
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=app,
                           capture_output=True, text=True, timeout=300,
                           env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")})
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "10 passed" in tests.stdout, tests.stdout


def test_an_ambiguous_layout_names_what_was_found_and_the_layout_option(app, models, frame):
    ran = _cli("generate", "detector", "rows", "--model", models["ambiguous"], cwd=app)
    assert ran.returncode == 1
    assert "6 values per row" in ran.stderr and "output0(1, 12, 6)" in ran.stderr
    assert "choose it with --layout, one of yolov8, yolov5, yolox, ssd, ssd_nms, detr, end2end" in ran.stderr
    assert not (app / "demoapp" / "rows.py").exists() and "rows" not in (app / "config.toml").read_text()

    ran = _cli("generate", "detector", "rows", "--model", models["ambiguous"], "--layout", "end2end", "--select",
               cwd=app)
    assert ran.returncode == 0, ran.stderr
    from demoapp.rows import Rows

    _same(Rows(conf=0.2)(frame), OnnxDetector(models["ambiguous"], layout="end2end", conf=0.2)(frame))
    config = (app / "config.toml").read_text()
    assert config.index('use = "rows"') < config.index("[tracker]")  # selected in [detector]
    from demoapp.app import build_detector, load_config

    assert type(build_detector(load_config(app / "config.toml"))).__name__ == "Rows"


def test_models_map_to_their_runtimes_and_bad_input_is_refused(app, models, tmp_path):
    from vistream.predict import LAYOUTS
    from vistream.scaffold.generate import LAYOUTS as CLI_LAYOUTS

    assert CLI_LAYOUTS == LAYOUTS  # the CLI's --layout choices (kept without importing vistream.predict)
    assert inspect_model("detector", "yolov8n.pt").base == "UltralyticsPredictor"  # a name: nothing downloaded
    assert inspect_model("segmenter", "yolo11n-seg.pt").runtime == "ultralytics"

    scripted = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        torch.jit.trace(YoloV8Like(), torch.rand(1, 3, 320, 320)).save(str(scripted))
    plan = inspect_model("detector", str(scripted), imgsz=320)
    assert (plan.base, plan.runtime, plan.layout) == ("TorchDetector", "torchscript", "yolov8")
    generate("detector", "scripted", str(scripted), app=app, imgsz=320)
    from demoapp.scripted import Scripted

    from vistream.predict import TorchDetector

    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
    _same(Scripted(conf=0.3)(image), TorchDetector(YoloV8Like(), imgsz=320, conf=0.3)(image))

    weights = tmp_path / "weights.pth"
    torch.save(YoloV8Like().state_dict(), str(weights))
    with pytest.raises(GenerateError, match=r"weights, not a network\): pass --model package.module:factory"):
        inspect_model("detector", str(weights))
    pickled = tmp_path / "pickled.pt"
    torch.save(Colours(), str(pickled))
    with pytest.raises(GenerateError, match="does not unpickle code"):
        inspect_model("classifier", str(pickled))
    with pytest.raises(GenerateError, match="a segmenter needs YOLOv8-seg outputs"):
        generate("segmenter", "notseg", models["ssd"], app=app)
    with pytest.raises(GenerateError, match="a classifier has one"):
        generate("classifier", "notcls", models["ssd"], app=app)
    with pytest.raises(GenerateError, match="not an app made by `vistream new`"):
        generate("detector", "x", models["yolov8"], app=tmp_path)
    generate("detector", "once", models["yolov8"], app=app)
    with pytest.raises(FileExistsError, match="use --force"):
        generate("detector", "once", models["yolov8"], app=app)
    assert (app / "config.toml").read_text().count("[plugins.once]") == 1
    with pytest.raises(GenerateError, match="would replace or shadow"):
        generate("detector", "app", models["yolov8"], app=app)

    # a model kept inside the app is named relative to the module: the app folder can move
    import shutil

    (app / "models").mkdir()
    shutil.copy(models["yolov8"], app / "models" / "v8.onnx")
    generate("detector", "local", str(app / "models" / "v8.onnx"), app=app)
    assert "os.path.abspath(__file__))), 'models/v8.onnx')" in (app / "demoapp" / "local.py").read_text()
    from demoapp.local import MODEL

    assert MODEL == str(app / "models" / "v8.onnx")
