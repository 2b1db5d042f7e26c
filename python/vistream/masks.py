"""``InstanceMasks``: N instance masks of one image, stored compactly.

Each mask is kept as the boolean crop of its own tight bounding region (where its pixels
are) plus that region's origin, so memory grows with the area the objects cover, not with
N x H x W: 100 person-sized masks of a 4K frame take a few tens of MB instead of 830 MB.
The crop is lossless (it is the mask's true extent, not the detection box, which a
segmenter's mask may overflow). Full-size masks are made on demand, one or all.

The exchange format is COCO's run-length encoding (RLE): ``{"size": [H, W], "counts": str}``
with the counts of alternating 0/1 runs over the image in column-major (Fortran) order,
starting with a run of zeros, compressed to the ASCII string pycocotools writes
(``pycocotools.mask.encode``/``decode`` read and write the same dicts). Uncompressed counts
(a list of ints) are accepted too.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

RLE = Dict[str, Any]


def _empty_crop() -> np.ndarray:
    return np.zeros((0, 0), bool)


def _tight_crop(mask: np.ndarray) -> Tuple[int, int, np.ndarray]:
    """(y0, x0, crop) of one (H, W) bool mask: the smallest rectangle holding its pixels."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return 0, 0, _empty_crop()
    cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return y0, x0, np.ascontiguousarray(mask[y0:y1, x0:x1])


def encode_counts(counts: Sequence[int]) -> str:
    """COCO's compressed string of RLE counts (what pycocotools stores in ``"counts"``):
    each count, from the third on as the difference to the count two before it, in
    little-endian 5-bit groups with a continuation bit, offset into printable ASCII."""
    out: List[str] = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            group = x & 0x1F
            x >>= 5  # arithmetic shift: negative differences end at -1
            more = (x != -1) if group & 0x10 else (x != 0)
            if more:
                group |= 0x20
            out.append(chr(group + 48))
    return "".join(out)


def decode_counts(text: str) -> List[int]:
    """Inverse of :func:`encode_counts`."""
    counts: List[int] = []
    position = 0
    while position < len(text):
        x, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise ValueError("RLE counts string ends inside a number")
            group = ord(text[position]) - 48
            x |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            position += 1
            shift += 5
            if not more and group & 0x10:
                x |= -1 << shift
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _crop_to_counts(y0: int, x0: int, crop: np.ndarray, height: int, width: int) -> List[int]:
    """RLE counts over the whole (height, width) image of a mask given as a crop, without
    making the full-size mask."""
    h, w = crop.shape
    if crop.size == 0 or not crop.any():
        return [height * width]
    # One False row above and below every crop column, so no run crosses a column in the scan.
    padded = np.zeros((w, h + 2), np.int8)
    padded[:, 1:-1] = crop.T
    edges = np.diff(padded.reshape(-1))
    rising = np.flatnonzero(edges == 1) + 1   # first True of a run, in padded positions
    falling = np.flatnonzero(edges == -1) + 1  # first False after it
    def full_index(positions: np.ndarray) -> np.ndarray:
        column, row = np.divmod(positions, h + 2)
        return (x0 + column) * height + (y0 + row - 1)
    starts, ends = full_index(rising), full_index(falling)
    # Runs that touch across a column boundary of the image (a crop spanning its full height)
    # are one run in column-major order.
    joined = ends[:-1] == starts[1:]
    if joined.any():
        keep_start = np.concatenate([[True], ~joined])
        keep_end = np.concatenate([~joined, [True]])
        starts, ends = starts[keep_start], ends[keep_end]
    bounds = np.empty(2 * len(starts) + 2, np.int64)
    bounds[0], bounds[-1] = 0, height * width
    bounds[1:-1:2], bounds[2:-1:2] = starts, ends
    counts = np.diff(bounds).tolist()
    if counts[-1] == 0:
        counts.pop()
    return counts


def _counts_to_crop(counts: Sequence[int], height: int, width: int) -> Tuple[int, int, np.ndarray]:
    total = height * width
    bounds = np.cumsum(np.concatenate([[0], np.asarray(counts, np.int64)]))
    if bounds[-1] != total or (np.asarray(counts) < 0).any():
        raise ValueError(f"RLE counts sum to {int(bounds[-1])}, expected {total} (= {height} x {width}), "
                         "or a count is negative")
    starts, ends = bounds[1:-1:2], bounds[2::2]
    nonempty = ends > starts
    starts, ends = starts[nonempty], ends[nonempty]
    if starts.size == 0:
        return 0, 0, _empty_crop()
    x0, x1 = int(starts[0] // height), int((ends[-1] - 1) // height) + 1
    # Only the columns the runs touch are made, as a column-major strip.
    delta = np.zeros((x1 - x0) * height + 1, np.int8)
    np.add.at(delta, starts - x0 * height, 1)
    np.add.at(delta, ends - x0 * height, -1)
    strip = np.cumsum(delta[:-1], dtype=np.int8).astype(bool).reshape(x1 - x0, height).T
    rows = np.flatnonzero(strip.any(axis=1))
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    return y0, x0, np.ascontiguousarray(strip[y0:y1])


class InstanceMasks:
    """N boolean instance masks of one (H, W) image, each stored as its tight crop.

    Build one with :meth:`from_dense` ((N, H, W) or a list of (H, W) arrays),
    :meth:`from_crops` (a segmenter that computes each mask inside its box: no full-size
    array is ever made) or :meth:`from_rle` (COCO RLE dicts). Read with ``masks[i]``
    (a new InstanceMasks, like Detections indexing), :meth:`crop` (origin and crop of one),
    :meth:`dense` (one full-size mask), :meth:`to_dense` (all, (N, H, W)), :meth:`to_rle`.

    Example::

        masks = InstanceMasks.from_crops([person_crop], origins=[(120, 40)], image_size=(2160, 3840))
        y0, x0, crop = masks.crop(0)          # draw or measure inside the crop
        full = masks.dense(0)                 # (2160, 3840) bool, made on demand
    """

    __slots__ = ("image_size", "_origins", "_crops")

    def __init__(self, image_size: Tuple[int, int], origins: np.ndarray, crops: Sequence[np.ndarray]) -> None:
        height, width = (int(v) for v in image_size)
        if height < 0 or width < 0:
            raise ValueError(f"InstanceMasks: image size must be >= 0, got {image_size}")
        origins = np.asarray(origins, np.int64).reshape(-1, 2)
        if len(origins) != len(crops):
            raise ValueError(f"InstanceMasks: {len(origins)} origins for {len(crops)} crops")
        checked = []
        for (y0, x0), crop in zip(origins, crops):
            crop = np.asarray(crop)
            if crop.ndim != 2:
                raise ValueError(f"InstanceMasks: a crop must be 2-D, got shape {crop.shape}")
            if crop.dtype != bool:
                crop = crop.astype(bool)
            if crop.size and (y0 < 0 or x0 < 0 or y0 + crop.shape[0] > height or x0 + crop.shape[1] > width):
                raise ValueError(f"InstanceMasks: crop {crop.shape} at (y={y0}, x={x0}) lies outside the "
                                 f"{height}x{width} image")
            checked.append(crop)
        #: (H, W) of the image the masks belong to
        self.image_size: Tuple[int, int] = (height, width)
        self._origins = origins
        self._crops: List[np.ndarray] = checked

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dense(cls, masks: Union[np.ndarray, Sequence[np.ndarray]]) -> "InstanceMasks":
        """From an (N, H, W) array (any dtype: nonzero is inside) or a list of (H, W) arrays."""
        if isinstance(masks, np.ndarray):
            if masks.ndim != 3:
                raise ValueError(f"masks must have shape (N, H, W), got {masks.shape}")
            size = masks.shape[1:]
        else:
            masks = [np.asarray(m) for m in masks]
            shapes = {m.shape for m in masks}
            if len(shapes) > 1 or any(len(s) != 2 for s in shapes):
                raise ValueError(f"masks must all be (H, W) of one size, got shapes {sorted(shapes)}")
            if not masks:
                raise ValueError("an empty list of masks has no image size: use InstanceMasks.empty((H, W))")
            size = masks[0].shape
        origins, crops = [], []
        for mask in masks:
            y0, x0, crop = _tight_crop(np.asarray(mask, bool) if mask.dtype != bool else mask)
            origins.append((y0, x0))
            crops.append(crop)
        return cls(size, np.array(origins, np.int64).reshape(-1, 2), crops)

    @classmethod
    def from_crops(cls, crops: Sequence[np.ndarray], origins: Sequence[Tuple[int, int]],
                   image_size: Tuple[int, int]) -> "InstanceMasks":
        """From per-instance crops and their top-left corners ``(y, x)`` in the image.

        Crops are trimmed to their pixels; parts outside the image are cut off.
        """
        height, width = (int(v) for v in image_size)
        out_origins, out_crops = [], []
        for (y, x), crop in zip(np.asarray(origins, np.int64).reshape(-1, 2), crops):
            crop = np.asarray(crop, bool)
            if crop.ndim != 2:
                raise ValueError(f"InstanceMasks.from_crops: a crop must be 2-D, got shape {crop.shape}")
            top, left = max(0, -int(y)), max(0, -int(x))
            bottom = min(crop.shape[0], height - int(y))
            right = min(crop.shape[1], width - int(x))
            visible = crop[top:max(top, bottom), left:max(left, right)]
            y0, x0, tight = _tight_crop(visible)
            if tight.size:
                y0, x0 = y0 + int(y) + top, x0 + int(x) + left
            out_origins.append((y0, x0))
            out_crops.append(tight)
        if len(out_crops) != len(crops):
            raise ValueError(f"InstanceMasks.from_crops: {len(origins)} origins for {len(crops)} crops")
        return cls((height, width), np.array(out_origins, np.int64).reshape(-1, 2), out_crops)

    @classmethod
    def from_rle(cls, rles: Iterable[RLE], image_size: Optional[Tuple[int, int]] = None) -> "InstanceMasks":
        """From COCO RLE dicts (``counts`` compressed str/bytes or a list of ints)."""
        origins, crops, size = [], [], None
        for rle in rles:
            try:
                height, width = (int(v) for v in rle["size"])
                counts = rle["counts"]
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"not a COCO RLE dict ({{'size': [H, W], 'counts': ...}}): {error!r}") from None
            if size is None:
                size = (height, width)
            elif size != (height, width):
                raise ValueError(f"RLE masks of different image sizes: {size} and {(height, width)}")
            if isinstance(counts, bytes):
                counts = counts.decode("ascii")
            if isinstance(counts, str):
                counts = decode_counts(counts)
            y0, x0, crop = _counts_to_crop(counts, height, width)
            origins.append((y0, x0))
            crops.append(crop)
        if size is None:
            if image_size is None:
                raise ValueError("no RLE masks and no image_size")
            size = image_size
        elif image_size is not None and tuple(image_size) != size:
            raise ValueError(f"RLE masks are {size}, expected image_size {tuple(image_size)}")
        return cls(size, np.array(origins, np.int64).reshape(-1, 2), crops)

    @classmethod
    def empty(cls, image_size: Tuple[int, int]) -> "InstanceMasks":
        """No masks, for an image of ``image_size`` (H, W)."""
        return cls(image_size, np.zeros((0, 2), np.int64), [])

    # -- reading ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._crops)

    @property
    def shape(self) -> Tuple[int, int, int]:
        """(N, H, W), the shape of :meth:`to_dense`."""
        return (len(self), *self.image_size)

    @property
    def nbytes(self) -> int:
        """Bytes held by the crops and origins."""
        return int(sum(c.nbytes for c in self._crops) + self._origins.nbytes)

    @property
    def area(self) -> np.ndarray:
        """(N,) int64 pixel count of each mask."""
        return np.array([int(np.count_nonzero(c)) for c in self._crops], np.int64)

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) float32 x1, y1, x2, y2 of each mask's pixels (x2, y2 exclusive; zeros when empty)."""
        out = np.zeros((len(self), 4), np.float32)
        for i, ((y0, x0), crop) in enumerate(zip(self._origins, self._crops)):
            if crop.size:
                out[i] = (x0, y0, x0 + crop.shape[1], y0 + crop.shape[0])
        return out

    def crop(self, i: int) -> Tuple[int, int, np.ndarray]:
        """``(y0, x0, crop)`` of mask ``i``: its pixels are ``crop`` placed at row y0, column x0
        (an empty mask is a (0, 0) crop). The crop is the stored array: do not modify it."""
        y0, x0 = self._origins[i]
        return int(y0), int(x0), self._crops[i]

    def dense(self, i: int) -> np.ndarray:
        """Mask ``i`` as a full-size (H, W) bool array (a new array)."""
        out = np.zeros(self.image_size, bool)
        y0, x0, crop = self.crop(i)
        out[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
        return out

    def to_dense(self) -> np.ndarray:
        """All masks as one (N, H, W) bool array (a new array: N x H x W bytes)."""
        out = np.zeros(self.shape, bool)
        for i in range(len(self)):
            y0, x0, crop = self.crop(i)
            out[i, y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
        return out

    def to_rle(self) -> List[RLE]:
        """COCO RLE dicts, ``{"size": [H, W], "counts": str}`` (pycocotools' compressed form)."""
        height, width = self.image_size
        return [{"size": [height, width],
                 "counts": encode_counts(_crop_to_counts(*self.crop(i), height, width))}
                for i in range(len(self))]

    def __getitem__(self, index) -> "InstanceMasks":
        """Index, slice, integer array or boolean mask → a new InstanceMasks (crops shared)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        picked = np.arange(len(self))[index]
        return InstanceMasks(self.image_size, self._origins[picked], [self._crops[i] for i in picked])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InstanceMasks):
            return NotImplemented
        return (self.image_size == other.image_size and len(self) == len(other)
                and all(np.array_equal(a[2], b[2]) and (a[2].size == 0 or a[:2] == b[:2])
                        for a, b in ((self.crop(i), other.crop(i)) for i in range(len(self)))))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"InstanceMasks(n={len(self)}, image_size={self.image_size}, nbytes={self.nbytes})"

    @staticmethod
    def concatenate(parts: Sequence["InstanceMasks"]) -> "InstanceMasks":
        """The masks of several InstanceMasks of one image size, in order."""
        if not parts:
            raise ValueError("nothing to concatenate")
        sizes = {p.image_size for p in parts}
        if len(sizes) != 1:
            raise ValueError(f"masks of different image sizes: {sorted(sizes)}")
        return InstanceMasks(parts[0].image_size, np.concatenate([p._origins for p in parts]).reshape(-1, 2),
                             [c for p in parts for c in p._crops])
