#!/usr/bin/python3
"""Write the first N Fashion-MNIST *test* images as 28x28 grayscale PNGs (assets/images/).

Source: the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz). Files are named INDEX_LABEL.png, e.g.
00_ankle_boot.png, with the class names of efficientformer_l1_fmnist96.onnx's `labels` metadata.

  /usr/bin/python3 scripts/make_demo_images.py [--count 12] [--src DIR] [--out assets/images]
"""
import argparse
import gzip
import os
import struct

import numpy as np
from PIL import Image

LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
          'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']


def slug(name):
    return name.lower().replace('t-shirt/top', 'tshirt_top').replace(' ', '_')


def open_maybe_gz(path):
    if os.path.exists(path):
        return open(path, 'rb')
    if os.path.exists(path + '.gz'):
        return gzip.open(path + '.gz', 'rb')
    raise FileNotFoundError(f'{path}[.gz] not found (install the Debian package dataset-fashion-mnist)')


def read_idx(path):
    with open_maybe_gz(path) as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack('>HBB', data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f'{path}: not an unsigned-byte IDX file')
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--count', type=int, default=12)
    p.add_argument('--src', default='/usr/share/datasets/fashion-mnist')
    p.add_argument('--out', default=os.path.join(repo, 'assets', 'images'))
    a = p.parse_args()

    images = read_idx(os.path.join(a.src, 't10k-images-idx3-ubyte'))
    labels = read_idx(os.path.join(a.src, 't10k-labels-idx1-ubyte'))
    assert images.shape[1:] == (28, 28) and len(images) == len(labels)
    os.makedirs(a.out, exist_ok=True)
    for i in range(a.count):
        name = f'{i:02d}_{slug(LABELS[labels[i]])}.png'
        Image.fromarray(images[i], mode='L').save(os.path.join(a.out, name))
        print(os.path.join(a.out, name))


if __name__ == '__main__':
    main()
