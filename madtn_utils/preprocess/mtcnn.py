"""MTCNN, the face detector of the paper (Zhang, Zhang, Li, Qiao, "Joint face detection and
alignment using multitask cascaded convolutional networks", IEEE SPL 23(10), 2016).

Three small networks in a cascade, each refining the candidates of the one before:

1. **Image pyramid.** The image is resized by :math:`s_k = (12 / m) f^k`, :math:`k = 0, 1, …`
   while :math:`s_k \\min(H, W) \\ge 12`, so a face of side :math:`m` (the smallest searched)
   and larger fills P-Net's 12×12 window at some level; :math:`f = 0.709`.
2. **P-Net** (fully convolutional, stride 2) scores every 12×12 window of every level:
   window :math:`(i, j)` of level :math:`k` is the box :math:`x_1 = 2j / s_k`,
   :math:`y_1 = 2i / s_k`, :math:`x_2 = (2j + 12) / s_k`, :math:`y_2 = (2i + 12) / s_k`.
   Windows with face probability :math:`p \\ge t_1` are kept; non-maximum suppression (NMS)
   at IoU 0.5 within a level, then 0.7 across levels.
3. **Box regression** (every stage, the paper's eq. 2 target): the network predicts
   :math:`(t_1, t_2, t_3, t_4)` and the box becomes
   :math:`(x_1 + t_1 w,\\; y_1 + t_2 h,\\; x_2 + t_3 w,\\; y_2 + t_4 h)`, :math:`w = x_2 - x_1`,
   :math:`h = y_2 - y_1`; it is then squared about its centre (side :math:`\\max(w, h)`).
4. **R-Net** rescores each box's crop resized to 24×24 (zero outside the image): :math:`p \\ge t_2`,
   NMS at IoU 0.7, regression, square.
5. **O-Net** does the same at 48×48 (:math:`p \\ge t_3`), regresses, and gives five landmarks
   (:math:`x = x_1 + l_x w`, :math:`y = y_1 + l_y h`); final NMS at 0.7 on
   :math:`|A \\cap B| / \\min(|A|, |B|)` ("Min"), else IoU :math:`|A \\cap B| / |A \\cup B|`.

Pixels enter every network as :math:`(v - 127.5) / 128`, RGB. The thresholds
:math:`(t_1, t_2, t_3) = (0.6, 0.7, 0.7)`, :math:`f = 0.709` and the NMS levels are those of the
authors' released detector (the paper gives the cascade and the losses, not these numbers).

The weights are the released MTCNN's, as converted for PyTorch and shipped (2 MB, MIT) in the
facenet-pytorch 2.6.0 wheel, ``facenet_pytorch/data/{pnet,rnet,onet}.pt``: installed with
``pip install --no-deps facenet-pytorch==2.6.0`` and read from the installed distribution's file
list (:func:`weights_file`), never by importing that package (its ``__init__`` needs torchvision).
Checked once, outside the project, against facenet-pytorch's own cascade (torchvision stubbed) on
52 real apex crops given a border, colour and gray: the same face found or missed on 96 % of the
104 images, best boxes at IoU 0.94 median (min 0.81). Without the border they differ more: that
cascade stretches the in-image part of a box that reaches past the image, where the authors' code
(and ours) pads it with zeros.

>>> nms(np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30.]]), np.array([0.9, 0.8, 0.7]), 0.5).tolist()
[0, 2]
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

__all__ = ["PNet", "RNet", "ONet", "MTCNN", "weights_file", "load_nets", "nms", "WEIGHTS_DIST"]

#: The registry wheel that ships the weights (its code is never imported).
WEIGHTS_DIST = "facenet-pytorch"
_INSTALL = "pip install --no-deps facenet-pytorch==2.6.0"


def _conv(cin, cout, k, pool=None):
    layers = [nn.Conv2d(cin, cout, k), nn.PReLU(cout)]
    return layers + ([nn.MaxPool2d(*pool, ceil_mode=True)] if pool else [])


class _Net(nn.Module):
    """Conv/PReLU/pool body named as the weights files name it (conv1, prelu1, ...)."""

    def __init__(self, body):
        super().__init__()
        n = 0
        for layer in body:
            if isinstance(layer, nn.Conv2d):
                n += 1
                setattr(self, f"conv{n}", layer)
            elif isinstance(layer, nn.PReLU):
                setattr(self, f"prelu{n}", layer)
            else:
                setattr(self, f"pool{n}", layer)
        self._order = [name for name, _ in self.named_children()]

    def body(self, x):
        for name in self._order:
            x = getattr(self, name)(x)
        return x


class PNet(_Net):
    """Proposal net: 12×12 windows, stride 2; returns ``(regression (N,4,h,w), face prob (N,h,w))``."""

    def __init__(self):
        super().__init__(_conv(3, 10, 3, (2, 2)) + _conv(10, 16, 3) + _conv(16, 32, 3))
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = self.body(x)
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)[:, 1]


class RNet(_Net):
    """Refine net on 24×24 crops; returns ``(regression (N,4), face prob (N,))``."""

    def __init__(self):
        super().__init__(_conv(3, 28, 3, (3, 2)) + _conv(28, 48, 3, (3, 2)) + _conv(48, 64, 2))
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x):
        x = self.body(x).permute(0, 3, 2, 1).flatten(1)  # the converted weights flatten (W, H, C)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)[:, 1]


class ONet(_Net):
    """Output net on 48×48 crops; returns ``(regression (N,4), landmarks (N,10), face prob (N,))``."""

    def __init__(self):
        super().__init__(_conv(3, 32, 3, (3, 2)) + _conv(32, 64, 3, (3, 2)) + _conv(64, 64, 3, (2, 2))
                         + _conv(64, 128, 2))
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x):
        x = self.body(x).permute(0, 3, 2, 1).flatten(1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)[:, 1]


def weights_file(name: str) -> Path:
    """Path of ``{name}.pt`` (pnet, rnet, onet) in the installed facenet-pytorch distribution."""
    try:
        dist = importlib.metadata.distribution(WEIGHTS_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f"mtcnn detector: the MTCNN weights are not installed: expected `{_INSTALL}` "
                         "(the Makefile's setup does it)") from None
    path = Path(dist.locate_file(f"facenet_pytorch/data/{name}.pt"))
    if not path.is_file():
        raise ValueError(f"mtcnn detector: {str(path)!r} not found: expected the {name}.pt that "
                         f"facenet-pytorch 2.6.0 ships (reinstall with `{_INSTALL}`)")
    return path


def load_nets(pretrained: bool = True) -> tuple[PNet, RNet, ONet]:
    """The three networks in eval mode, with the released weights (or PyTorch's random init)."""
    nets = (PNet(), RNet(), ONet())
    for net, name in zip(nets, ("pnet", "rnet", "onet")):
        if pretrained:
            net.load_state_dict(torch.load(weights_file(name), map_location="cpu", weights_only=True))
        net.eval()
    return nets


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy NMS, best score first; overlap is IoU (``union``) or ``min``."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order, keep = np.argsort(-scores, kind="stable"), []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        inter = (np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
                 * np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])))
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        order = rest[inter <= threshold * np.maximum(denom, 1e-9)]
    return np.array(keep, dtype=np.int64)


def _regress(boxes: np.ndarray, t: np.ndarray) -> np.ndarray:
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return boxes + t * np.stack([w, h, w, h], axis=1)


def _square(boxes: np.ndarray) -> np.ndarray:
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side, cx, cy = np.maximum(w, h), boxes[:, 0] + w / 2, boxes[:, 1] + h / 2
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def _tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) RGB -> float (N, 3, H, W) scaled to about [-1, 1]."""
    return (torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() - 127.5) / 128.0


def _crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Each box's pixels resized to ``size``×``size`` (zero outside the image), uint8 (N, size, size, 3)."""
    height, width = image.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.uint8)
    for n, (x1, y1, x2, y2) in enumerate(np.round(boxes).astype(int)):
        w, h = x2 - x1, y2 - y1
        if w < 1 or h < 1:
            continue
        patch = np.zeros((h, w, 3), np.uint8)
        sx0, sy0, sx1, sy1 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y1:sy1 - y1, sx0 - x1:sx1 - x1] = image[sy0:sy1, sx0:sx1]
        out[n] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


class MTCNN:
    """The cascade (module docstring). ``min_face``: the smallest face searched, as a fraction of
    the image's shorter side (at least 12 px); ``nets``: ``(PNet, RNet, ONet)`` (default: the
    released weights)."""

    def __init__(self, *, min_face: float = 0.1, thresholds=(0.6, 0.7, 0.7), factor: float = 0.709, nets=None):
        if not 0 < min_face <= 1:
            raise ValueError(f"preprocess.mtcnn_min_face: expected a fraction in (0, 1], got {min_face}")
        if not 0 < factor < 1:
            raise ValueError(f"mtcnn factor: expected a pyramid factor in (0, 1), got {factor}")
        self.min_face, self.thresholds, self.factor = min_face, tuple(thresholds), factor
        self.pnet, self.rnet, self.onet = nets if nets is not None else load_nets()

    def scales(self, shape) -> list[float]:
        """The pyramid's scales :math:`s_k` for an image of ``shape`` (H, W)."""
        short = min(shape[:2])
        scale = 12.0 / max(12.0, self.min_face * short)
        out = []
        while short * scale >= 12:
            out.append(scale)
            scale *= self.factor
        return out

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(boxes (N, 4) x1 y1 x2 y2, probabilities (N,), landmarks (N, 5, 2))``, most probable first.

        ``image``: uint8 RGB (H, W, 3), or gray (H, W), taken as three equal channels. The networks
        are small: they run on one torch thread (on a busy 2-core machine, two threads made a
        512×512 frame 10-30 times slower), the caller's thread count restored after.
        """
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                return self._cascade(image)
        finally:
            torch.set_num_threads(threads)

    def _cascade(self, image: np.ndarray):
        image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
        height, width = image.shape[:2]
        t1, t2, t3 = self.thresholds
        stage = []
        for s in self.scales(image.shape):
            level = cv2.resize(image, (int(np.ceil(width * s)), int(np.ceil(height * s))), interpolation=cv2.INTER_AREA)
            reg, prob = self.pnet(_tensor(level[None]))
            i, j = np.nonzero(prob[0].numpy() >= t1)
            if not len(i):
                continue
            boxes = np.stack([2 * j, 2 * i, 2 * j + 12, 2 * i + 12], axis=1) / s
            scores, t = prob[0].numpy()[i, j], reg[0].numpy()[:, i, j].T
            keep = nms(boxes, scores, 0.5)
            stage.append((boxes[keep], scores[keep], t[keep]))
        empty = (np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)))
        if not stage:
            return empty
        boxes, scores, t = (np.concatenate(parts) for parts in zip(*stage))
        keep = nms(boxes, scores, 0.7)
        boxes = _square(_regress(boxes[keep], t[keep]))
        # R-Net
        reg, prob = self.rnet(_tensor(_crops(image, boxes, 24)))
        ok = prob.numpy() >= t2
        boxes, scores, t = boxes[ok], prob.numpy()[ok], reg.numpy()[ok]
        if not len(boxes):
            return empty
        keep = nms(boxes, scores, 0.7)
        boxes = _square(_regress(boxes[keep], t[keep]))
        # O-Net
        reg, marks, prob = self.onet(_tensor(_crops(image, boxes, 48)))
        ok = prob.numpy() >= t3
        boxes, scores, t, marks = boxes[ok], prob.numpy()[ok], reg.numpy()[ok], marks.numpy()[ok]
        if not len(boxes):
            return empty
        wh = boxes[:, 2:4] - boxes[:, 0:2]
        points = np.stack([boxes[:, :1] + marks[:, :5] * wh[:, :1], boxes[:, 1:2] + marks[:, 5:] * wh[:, 1:]], axis=2)
        boxes = _regress(boxes, t)
        keep = nms(boxes, scores, 0.7, mode="min")
        return boxes[keep], scores[keep], points[keep]
