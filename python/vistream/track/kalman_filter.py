"""Constant-velocity Kalman filter over boxes as (cx, cy, aspect, height), as used by ByteTrack."""

from __future__ import annotations

from typing import Tuple

import numpy as np

# Noise is proportional to the box height, with the weights of the ByteTrack/DeepSORT reference.
STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160


class KalmanFilterXYAH:
    """8-state filter: (cx, cy, a, h) and their velocities, unit time step.

    Example::

        kf = KalmanFilterXYAH()
        mean, cov = kf.initiate(np.array([50.0, 60.0, 0.5, 40.0]))
        means, covs = kf.multi_predict(mean[None], cov[None])
        mean, cov = kf.update(means[0], covs[0], np.array([52.0, 61.0, 0.5, 40.0]))
    """

    ndim = 4

    def __init__(self) -> None:
        self._motion = np.eye(2 * self.ndim)
        self._motion[np.arange(self.ndim), self.ndim + np.arange(self.ndim)] = 1.0
        self._observe = np.eye(self.ndim, 2 * self.ndim)

    def initiate(self, measurement: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of a new track from one (cx, cy, a, h) measurement (zero velocity)."""
        measurement = np.asarray(measurement, np.float64)
        h = measurement[3]
        p, v = STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY
        std = np.array([2 * p * h, 2 * p * h, 1e-2, 2 * p * h,
                        10 * v * h, 10 * v * h, 1e-5, 10 * v * h])
        mean = np.concatenate([measurement, np.zeros(self.ndim)])
        return mean, np.diag(std * std)

    def _process_noise(self, heights: np.ndarray) -> np.ndarray:
        """(N, 8, 8) diagonal process noise for boxes of the given heights."""
        p, v = STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY
        one = np.ones_like(heights)
        std = np.stack([p * heights, p * heights, 1e-2 * one, p * heights,
                        v * heights, v * heights, 1e-5 * one, v * heights], axis=1)
        noise = np.zeros((len(heights), 8, 8))
        noise[:, np.arange(8), np.arange(8)] = std * std
        return noise

    def multi_predict(self, means: np.ndarray, covariances: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """One time step for N tracks at once: (N, 8) means, (N, 8, 8) covariances."""
        means = np.asarray(means, np.float64).reshape(-1, 8)
        covariances = np.asarray(covariances, np.float64).reshape(-1, 8, 8)
        noise = self._process_noise(means[:, 3])
        new_means = means @ self._motion.T
        new_covs = self._motion @ covariances @ self._motion.T + noise
        return new_means, new_covs

    def predict(self, mean: np.ndarray, covariance: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """One time step for a single track."""
        means, covs = self.multi_predict(mean[None], covariance[None])
        return means[0], covs[0]

    def multi_project(self, means: np.ndarray, covariances: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(N, 4) means and (N, 4, 4) covariances in measurement space (with measurement noise)."""
        h = means[:, 3]
        std = np.stack([STD_WEIGHT_POSITION * h, STD_WEIGHT_POSITION * h,
                        np.full_like(h, 1e-1), STD_WEIGHT_POSITION * h], axis=1)
        projected_cov = self._observe @ covariances @ self._observe.T
        projected_cov[:, np.arange(4), np.arange(4)] += std * std
        return means @ self._observe.T, projected_cov

    def multi_update(self, means: np.ndarray, covariances: np.ndarray,
                     measurements: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Correct N tracks at once with (N, 4) (cx, cy, a, h) measurements."""
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
        """Correct one track with a (cx, cy, a, h) measurement."""
        means, covs = self.multi_update(mean[None], covariance[None], np.asarray(measurement)[None])
        return means[0], covs[0]
