"""Constant-velocity Kalman filters over boxes, as used by ByteTrack (XYAH) and BoT-SORT (XYWH).

Both filters have an 8-dimensional state: four box coordinates and their velocities, unit
time step. They differ in the box parametrisation and in how the noise scales with the box:

- ``KalmanFilterXYAH``: (cx, cy, aspect w/h, height); noise proportional to the height
  (aspect gets a small constant noise). The DeepSORT/ByteTrack model.
- ``KalmanFilterXYWH``: (cx, cy, width, height); x/width noise proportional to the width,
  y/height noise proportional to the height. The BoT-SORT model: it follows a box's width
  directly, which helps when people turn or are partly occluded.

Every method is batched over N tracks: the trackers never loop over tracks in Python to
predict or correct.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from .box_format import xyah_to_xyxy, xywh_to_xyxy, xyxy_to_xyah, xyxy_to_xywh

# Noise proportional to box size, with the weights of the DeepSORT/ByteTrack/BoT-SORT references.
STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160


class _ConstantVelocityKalman:
    """Shared predict/project/update over (N, 8) means and (N, 8, 8) covariances.

    Subclasses say how a box is encoded (``encode``/``decode``) and how large the noise of
    each coordinate is for given means (``_scale``, returning (N, 4) reference sizes, plus
    the constants used for coordinates that do not scale).
    """

    ndim = 4

    def __init__(self) -> None:
        self._motion = np.eye(2 * self.ndim)
        self._motion[np.arange(self.ndim), self.ndim + np.arange(self.ndim)] = 1.0
        self._observe = np.eye(self.ndim, 2 * self.ndim)

    # -- per-parametrisation hooks ------------------------------------------------------
    def encode(self, xyxy: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, measurement: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _std(self, means: np.ndarray, weight: float, constant: float) -> np.ndarray:  # pragma: no cover
        """(N, 4) standard deviations: ``weight`` times the box size for scaled coordinates."""
        raise NotImplementedError

    # -- filter -------------------------------------------------------------------------
    def initiate(self, measurement: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of a new track from one measurement (zero velocity)."""
        measurement = np.asarray(measurement, np.float64)
        p, v = STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY
        std = np.concatenate([self._std(measurement[None], 2 * p, 1e-2)[0],
                              self._std(measurement[None], 10 * v, 1e-5)[0]])
        mean = np.concatenate([measurement, np.zeros(self.ndim)])
        return mean, np.diag(std * std)

    def _process_noise(self, means: np.ndarray) -> np.ndarray:
        """(N, 8, 8) diagonal process noise for the given means."""
        std = np.concatenate([self._std(means, STD_WEIGHT_POSITION, 1e-2),
                              self._std(means, STD_WEIGHT_VELOCITY, 1e-5)], axis=1)
        noise = np.zeros((len(means), 8, 8))
        noise[:, np.arange(8), np.arange(8)] = std * std
        return noise

    def multi_predict(self, means: np.ndarray, covariances: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """One time step for N tracks at once: (N, 8) means, (N, 8, 8) covariances."""
        means = np.asarray(means, np.float64).reshape(-1, 8)
        covariances = np.asarray(covariances, np.float64).reshape(-1, 8, 8)
        noise = self._process_noise(means)
        new_means = means @ self._motion.T
        new_covs = self._motion @ covariances @ self._motion.T + noise
        return new_means, new_covs

    def predict(self, mean: np.ndarray, covariance: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """One time step for a single track."""
        means, covs = self.multi_predict(mean[None], covariance[None])
        return means[0], covs[0]

    def multi_project(self, means: np.ndarray, covariances: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(N, 4) means and (N, 4, 4) covariances in measurement space (with measurement noise)."""
        std = self._std(means, STD_WEIGHT_POSITION, 1e-1)
        projected_cov = self._observe @ covariances @ self._observe.T
        projected_cov[:, np.arange(4), np.arange(4)] += std * std
        return means @ self._observe.T, projected_cov

    def multi_update(self, means: np.ndarray, covariances: np.ndarray,
                     measurements: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Correct N tracks at once with (N, 4) measurements."""
        means = np.asarray(means, np.float64).reshape(-1, 8)
        covariances = np.asarray(covariances, np.float64).reshape(-1, 8, 8)
        projected_mean, projected_cov = self.multi_project(means, covariances)
        # gain K solves K @ S = P @ H^T  (S symmetric positive definite)
        gain = np.linalg.solve(projected_cov, self._observe @ covariances).transpose(0, 2, 1)
        innovation = np.asarray(measurements, np.float64).reshape(-1, 4) - projected_mean
        new_means = means + np.einsum("nij,nj->ni", gain, innovation)
        new_covs = covariances - gain @ projected_cov @ gain.transpose(0, 2, 1)
        return new_means, new_covs

    def update(self, mean: np.ndarray, covariance: np.ndarray,
               measurement: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Correct one track with one measurement."""
        means, covs = self.multi_update(mean[None], covariance[None], np.asarray(measurement)[None])
        return means[0], covs[0]

    def multi_warp(self, means: np.ndarray, covariances: np.ndarray,
                   warp: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Move N states by a 2x3 camera-motion matrix (rotation/scale + translation).

        The 2x2 part acts on each (x, y)-like pair of the state — position, size and their
        velocities — and the translation on the position only, as BoT-SORT's camera motion
        compensation does.
        """
        warp = np.asarray(warp, np.float64).reshape(2, 3)
        linear = np.kron(np.eye(4), warp[:, :2])
        means = np.asarray(means, np.float64).reshape(-1, 8) @ linear.T
        means[:, :2] += warp[:, 2]
        covariances = linear @ np.asarray(covariances, np.float64).reshape(-1, 8, 8) @ linear.T
        return means, covariances


class KalmanFilterXYAH(_ConstantVelocityKalman):
    """State (cx, cy, aspect, height) + velocities; noise ∝ height (ByteTrack).

    Example::

        kf = KalmanFilterXYAH()
        mean, cov = kf.initiate(np.array([50.0, 60.0, 0.5, 40.0]))
        means, covs = kf.multi_predict(mean[None], cov[None])
        mean, cov = kf.update(means[0], covs[0], np.array([52.0, 61.0, 0.5, 40.0]))
    """

    name = "xyah"

    def encode(self, xyxy: np.ndarray) -> np.ndarray:
        return xyxy_to_xyah(xyxy)

    def decode(self, measurement: np.ndarray) -> np.ndarray:
        return xyah_to_xyxy(measurement)

    def _std(self, means: np.ndarray, weight: float, constant: float) -> np.ndarray:
        std = np.empty((len(means), 4))
        std[:] = weight * means[:, 3:4]
        std[:, 2] = constant
        return std


class KalmanFilterXYWH(_ConstantVelocityKalman):
    """State (cx, cy, width, height) + velocities; noise ∝ width in x, ∝ height in y (BoT-SORT).

    Example::

        kf = KalmanFilterXYWH()
        mean, cov = kf.initiate(np.array([50.0, 60.0, 20.0, 40.0]))
        mean, cov = kf.predict(mean, cov)
    """

    name = "xywh"

    def encode(self, xyxy: np.ndarray) -> np.ndarray:
        return xyxy_to_xywh(xyxy)

    def decode(self, measurement: np.ndarray) -> np.ndarray:
        return xywh_to_xyxy(measurement)

    def _std(self, means: np.ndarray, weight: float, constant: float) -> np.ndarray:
        return weight * means[:, [2, 3, 2, 3]]

