#!/usr/bin/python3
# Regenerates the fuzz seed corpora: fuzz/corpus/onnx (micro EfficientFormer exports, ~40 kB each,
# plus links to two tiny test models) and fuzz/corpus/image (tiny PNG/JPEG variants).
# Run from the repository root with /usr/bin/python3 (torch 1.13, onnx, numpy, PIL).
import os
import subprocess

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ONNX = os.path.join(ROOT, "fuzz", "corpus", "onnx")
IMAGE = os.path.join(ROOT, "fuzz", "corpus", "image")
MICRO = ["--arch", "custom", "--depths", "1,1,1,1", "--widths", "4,4,8,8", "--num-vit", "1", "--img-size", "32",
         "--num-classes", "3", "--key-dim", "4", "--heads", "1", "--num-inputs", "0", "--no-ort"]


def onnx_seeds():
    os.makedirs(ONNX, exist_ok=True)
    for name, extra in [("micro_op11", ["--opset", "11"]), ("micro_op17", ["--opset", "17"]),
                        ("micro_dynbatch_op13", ["--opset", "13", "--dynamic-batch"]),
                        ("micro_folded_op11", ["--opset", "11", "--fold"])]:
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "gen_efficientformer.py")] + MICRO + extra +
                       ["--out", os.path.join(ONNX, name + ".onnx")], check=True, stdout=subprocess.DEVNULL)
    for name in ["tiny_op11.onnx", "tiny_dynbatch_op17.onnx"]:
        link = os.path.join(ONNX, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join("..", "..", "..", "tests", "models", name), link)


def image_seeds():
    os.makedirs(IMAGE, exist_ok=True)
    y, x = np.mgrid[0:16, 0:16]
    rgb = np.stack([x * 16, y * 16, (x + y) * 8], axis=-1).astype(np.uint8)
    im = Image.fromarray(rgb)
    im.save(os.path.join(IMAGE, "rgb16.png"))
    im.convert("L").save(os.path.join(IMAGE, "gray16.png"))
    im.convert("RGBA").save(os.path.join(IMAGE, "rgba16.png"))
    im.quantize(8).save(os.path.join(IMAGE, "palette16.png"), transparency=0)
    Image.fromarray((x * 4096).astype(np.uint16)).save(os.path.join(IMAGE, "gray16bit.png"))
    im.save(os.path.join(IMAGE, "baseline16.jpg"), quality=75)
    im.save(os.path.join(IMAGE, "progressive16.jpg"), quality=75, progressive=True)
    im.save(os.path.join(IMAGE, "subsampled444.jpg"), quality=90, subsampling=0)
    im.convert("L").save(os.path.join(IMAGE, "gray16.jpg"), quality=75)
    im.convert("CMYK").save(os.path.join(IMAGE, "cmyk16.jpg"), quality=75)


if __name__ == "__main__":
    onnx_seeds()
    image_seeds()
