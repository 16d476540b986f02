"""Drawing keypoints and skeletons on images for people to look at."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

#: COCO skeleton (0-based keypoint pairs), used when none is given.
DEFAULT_SKELETON = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12),
                    (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
                    (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5),
                    (4, 6))
#: RGB colours: the person's left side orange, right side blue, rest green.
LEFT, RIGHT, MIDDLE = (255, 128, 0), (51, 153, 255), (0, 255, 0)


def _side(k: int) -> Optional[str]:
    """'left' for odd COCO indices >= 1, 'right' for even >= 2."""
    if k == 0:
        return None
    return 'left' if k % 2 == 1 else 'right'


def draw_pose_skeletons(rgb: np.ndarray,
                        keypoints: np.ndarray,
                        scores: Optional[np.ndarray] = None,
                        skeleton: Optional[Sequence[Sequence[int]]] = None,
                        kpt_thr: float = 0.3,
                        bboxes: Optional[np.ndarray] = None,
                        radius: Optional[int] = None,
                        thickness: Optional[int] = None) -> np.ndarray:
    """Draw poses on a copy of an RGB image.

    Keypoints whose score is below ``kpt_thr`` and links with such an end
    are not drawn. Colours follow COCO's convention of odd = left, even =
    right (orange / blue); links between sides and the face are green.

    Args:
        rgb (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        keypoints (np.ndarray): ``[N, K, 2]`` pixels.
        scores (np.ndarray, optional): ``[N, K]``; None draws all.
        skeleton (Sequence, optional): 0-based index pairs. Defaults to the
            COCO skeleton.
        kpt_thr (float): Score threshold. Defaults to 0.3.
        bboxes (np.ndarray, optional): ``[N, 4]`` (x1, y1, x2, y2) drawn as
            thin white rectangles.
        radius (int, optional): Keypoint radius; default from image size.
        thickness (int, optional): Link width; default from image size.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 RGB.
    """
    import cv2
    img = np.ascontiguousarray(rgb[..., ::-1]).copy()  # BGR for cv2
    kpts = np.asarray(keypoints, dtype=np.float32).reshape(
        -1, *np.asarray(keypoints).shape[-2:])
    if scores is None:
        scores = np.ones(kpts.shape[:2], np.float32)
    scores = np.asarray(scores, np.float32).reshape(kpts.shape[:2])
    skeleton = DEFAULT_SKELETON if skeleton is None else skeleton
    size = max(img.shape[:2])
    radius = radius or max(1, size // 150)
    thickness = thickness or max(1, size // 250)

    def colour(side: Optional[str]):
        rgb_c = {'left': LEFT, 'right': RIGHT}.get(side, MIDDLE)
        return tuple(int(c) for c in rgb_c[::-1])

    if bboxes is not None:
        for box in np.asarray(bboxes, np.float32).reshape(-1, 4):
            cv2.rectangle(img, (int(box[0]), int(box[1])),
                          (int(box[2]), int(box[3])), (255, 255, 255), 1,
                          cv2.LINE_AA)
    for pose, score in zip(kpts, scores):
        for a, b in skeleton:
            if a >= len(pose) or b >= len(pose):
                continue
            if score[a] < kpt_thr or score[b] < kpt_thr:
                continue
            sa, sb = _side(a), _side(b)
            side = sa if sa == sb else None
            cv2.line(img, tuple(int(round(v)) for v in pose[a]),
                     tuple(int(round(v)) for v in pose[b]), colour(side),
                     thickness, cv2.LINE_AA)
        for k, (xy, s) in enumerate(zip(pose, score)):
            if s < kpt_thr:
                continue
            cv2.circle(img, tuple(int(round(v)) for v in xy), radius,
                       colour(_side(k)), -1, cv2.LINE_AA)
    return img[..., ::-1].copy()
