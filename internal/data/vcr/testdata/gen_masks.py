# One-off generator of masks_skimage019.json (not run by tests; needs numpy and
# scikit-image, e.g. Debian bookworm's python3-skimage 0.19.3):
#   /usr/bin/python3 gen_masks.py > masks_skimage019.json
# It follows common/utils/mask.py of jackroos/VL-BERT: vertices mapped into the 14x14
# box-relative grid in float32, clamped to [0, 13], rasterised with skimage.draw.polygon.
# scikit-image >= 0.18 counts grid points on edges and vertices as inside
# (vcr.PolygonInclusive).
import json
import random

import numpy as np
from skimage.draw import polygon

SIZE = 14


def instance_mask(polys, box):
    mask = np.zeros((SIZE, SIZE), dtype=np.float32)
    w_ratio = np.float32(float(SIZE) / (box[2] - box[0] + 1))
    h_ratio = np.float32(float(SIZE) / (box[3] - box[1] + 1))
    for p in polys:
        p = np.asarray(p, dtype=np.float32)
        x = (p[:, 0] - np.float32(box[0])) * w_ratio
        y = (p[:, 1] - np.float32(box[1])) * h_ratio
        rr, cc = polygon(np.clip(y, 0, SIZE - 1), np.clip(x, 0, SIZE - 1))
        mask[rr, cc] = 1
    return mask


meta = json.load(open("vcr1images/movie_a/frame_001.json"))
cases = []
for box, polys in zip(meta["boxes"], meta["segms"]):
    cases.append({"box": box[:4], "polys": [p for p in polys if p]})
rng = random.Random(7)
for i in range(40):
    x1, y1 = rng.uniform(0, 300), rng.uniform(0, 300)
    w, h = rng.choice([13, 27, 69.5, rng.uniform(5, 400)]), rng.choice([13, 27, 139, rng.uniform(5, 400)])
    box = [x1, y1, x1 + w, y1 + h]
    polys = []
    for _ in range(rng.randint(1, 3)):
        n = rng.randint(3, 9)
        if i % 3 == 0:
            # integer vertices on the grid lines, so edges pass through grid points
            pts = [[x1 + rng.randint(-2, 15) * (w + 1) / 14, y1 + rng.randint(-2, 15) * (h + 1) / 14] for _ in range(n)]
        else:
            pts = [[rng.uniform(x1 - 20, x1 + w + 20), rng.uniform(y1 - 20, y1 + h + 20)] for _ in range(n)]
        polys.append(pts)
    cases.append({"box": box, "polys": polys})
for c in cases:
    c["mask"] = instance_mask(c["polys"], c["box"]).astype(int).ravel().tolist()
print(json.dumps({"skimage": __import__("skimage").__version__, "size": SIZE, "cases": cases}))
