#!/usr/bin/env python3
"""
Fine-tunes face-api's expression network end to end on labelled face crops (FER2013's training
part) and writes its weights as a tfjs weights manifest (float32), which `npm run models` turns
into an ONNX model with the same graph code as face-api's own (packages/encoder/src/convert).

It only produces committed, reproducible weights: fever's runtime never runs Python. Inputs:
  --fit / --monitor   the split that `fever train split` writes (path,label CSVs; the monitor
                      part picks the best epoch; the validation part is never read here)
  --init              face-api's weights manifest (node_modules/@vladmandic/face-api/model/…)
The crop is preprocessed exactly as fever does at run time (padded to a square with the face
centred, TF bilinear resize without half-pixel centres, RGB), then augmented.

Run with Debian's python3-torch (1.13) or torch from PyPI:
  /usr/bin/python3 packages/train/python/finetune_face_api.py --fit S/fit.csv --monitor S/monitor.csv \
      --root ../shared/data/fer2013_train --out packages/encoder/trained/<id>
Same seed, same data, same torch build and thread count: the same weights.
"""
import argparse, csv, hashlib, json, math, os, platform, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised']
# FER2013's folder names → face-api's label names.
ALIASES = {'fear': 'fearful', 'disgust': 'disgusted', 'surprise': 'surprised'}
MEAN_RGB = [122.782, 117.001, 104.298]
BLOCKS = [('dense0', 3, 32), ('dense1', 32, 64), ('dense2', 64, 128), ('dense3', 128, 256)]


# ---------- face-api's FaceExpressionNet (op for op as packages/encoder/src/convert/networks.ts) ----------

def pad_same(x, stride):
    """TF 'SAME' for a 3×3 kernel: the odd pixel goes at the end."""
    side = x.shape[-1]
    total = max((math.ceil(side / stride) - 1) * stride + 3 - side, 0)
    return F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))


class SeparableConv(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.depthwise = nn.Conv2d(cin, cin, 3, stride, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(pad_same(x, self.stride)))


class PlainConv(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(cin, cout, 3, stride)

    def forward(self, x):
        return self.conv(pad_same(x, self.stride))


class DenseBlock(nn.Module):
    def __init__(self, cin, cout, first):
        super().__init__()
        self.conv0 = PlainConv(cin, cout, 2) if first else SeparableConv(cin, cout, 2)
        self.conv1, self.conv2, self.conv3 = (SeparableConv(cout, cout, 1) for _ in range(3))

    def forward(self, x):
        o1 = F.relu(self.conv0(x))
        o2 = self.conv1(o1)
        o3 = self.conv2(F.relu(o1 + o2))
        o4 = self.conv3(F.relu(o1 + (o2 + o3)))
        return F.relu(o1 + (o2 + (o3 + o4)))


class FaceExpressionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(DenseBlock(cin, cout, i == 0) for i, (_, cin, cout) in enumerate(BLOCKS))
        self.fc = nn.Linear(256, len(LABELS))
        self.register_buffer('mean', torch.tensor(MEAN_RGB).view(1, 3, 1, 1))

    def forward(self, x):
        """x: N×3×S×S RGB in 0..255 → (256-d pooled feature, logits)."""
        x = (x - self.mean) / 255
        for block in self.blocks:
            x = block(x)
        feature = x.mean((2, 3))
        return feature, self.fc(feature)


# ---------- tfjs weights (face-api's layout: HWIO filters, [3,3,C,1] depthwise, fc [in,out]) ----------

def read_tfjs(manifest_path):
    groups = json.load(open(manifest_path))
    tensors = {}
    for group in groups:
        data = b''.join(open(os.path.join(os.path.dirname(manifest_path), p), 'rb').read() for p in group['paths'])
        offset = 0
        for spec in group['weights']:
            size = int(np.prod(spec['shape']))
            q = spec.get('quantization')
            if q is None:
                values = np.frombuffer(data, np.float32, size, offset).astype(np.float64)
                offset += 4 * size
            elif q['dtype'] in ('uint8', 'uint16'):
                width = 1 if q['dtype'] == 'uint8' else 2
                raw = np.frombuffer(data, np.uint8 if width == 1 else np.uint16, size, offset)
                values = raw.astype(np.float64) * q['scale'] + q['min']
                offset += width * size
            else:
                raise ValueError(f"{manifest_path}: {spec['name']}: quantisation {q['dtype']}")
            tensors[spec['name']] = values.astype(np.float32).reshape(spec['shape'])
    return tensors


# Layout changes between torch and tfjs, each with its inverse.
HWIO = (lambda t: t.permute(2, 3, 1, 0), lambda t: t.permute(3, 2, 0, 1))  # OIHW ↔ HWIO
DEPTHWISE = (lambda t: t.permute(2, 3, 0, 1), lambda t: t.permute(2, 3, 0, 1))  # C1HW ↔ HWC1
MATRIX = (lambda t: t.t(), lambda t: t.t())  # [out, in] ↔ [in, out]
VECTOR = (lambda t: t, lambda t: t)


def tfjs_names(net):
    """(tfjs name, torch parameter, (to tfjs layout, from tfjs layout)) for every weight of the net."""
    out = []
    for (name, _, _), block in zip(BLOCKS, net.blocks):
        for i in range(4):
            layer = getattr(block, f'conv{i}')
            prefix = f'{name}/conv{i}'
            if isinstance(layer, PlainConv):
                out += [(f'{prefix}/filters', layer.conv.weight, HWIO), (f'{prefix}/bias', layer.conv.bias, VECTOR)]
            else:
                out += [(f'{prefix}/depthwise_filter', layer.depthwise.weight, DEPTHWISE),
                        (f'{prefix}/pointwise_filter', layer.pointwise.weight, HWIO),
                        (f'{prefix}/bias', layer.pointwise.bias, VECTOR)]
    return out + [('fc/weights', net.fc.weight, MATRIX), ('fc/bias', net.fc.bias, VECTOR)]


def load_tfjs(net, tensors):
    for name, param, (_, from_tfjs) in tfjs_names(net):
        with torch.no_grad():
            param.copy_(from_tfjs(torch.from_numpy(tensors[name].copy())))


def write_tfjs(net, out_dir):
    """weights.json + weights.bin: one group of float32 tensors in face-api's names and layouts."""
    specs, chunks = [], []
    for name, param, (to_tfjs, _) in tfjs_names(net):
        t = to_tfjs(param.detach()).contiguous().numpy().astype('<f4')
        specs.append({'name': name, 'shape': list(t.shape), 'dtype': 'float32'})
        chunks.append(t.tobytes())
    with open(os.path.join(out_dir, 'weights.bin'), 'wb') as f:
        f.write(b''.join(chunks))
    with open(os.path.join(out_dir, 'weights.json'), 'w') as f:
        json.dump([{'paths': ['weights.bin'], 'weights': specs}], f, indent=1)
        f.write('\n')


# ---------- data, preprocessed as fever's encoder does ----------

def resize_matrix(n_in, n_out):
    """tf.image.resizeBilinear (alignCorners false, no half-pixel centres) along one axis."""
    m = np.zeros((n_out, n_in), np.float64)
    for i in range(n_out):
        s = i * n_in / n_out
        lo = int(math.floor(s))
        hi = min(lo + 1, n_in - 1)
        m[i, lo] += 1 - (s - lo)
        m[i, hi] += s - lo
    return m.astype(np.float32)


def face_input(path, size):
    img = np.asarray(Image.open(path).convert('RGB'), dtype=np.float32)
    h, w, _ = img.shape
    side, diff = max(h, w), abs(h - w)
    prepend = diff - int(math.floor(diff * 0.5 + 0.5))  # face-api's padToSquare(centre)
    canvas = np.zeros((side, side, 3), np.float32)
    if w < h:
        canvas[:, prepend:prepend + w] = img
    else:
        canvas[prepend:prepend + h, :] = img
    m = resize_matrix(side, size)
    return np.einsum('ij,jkc->ikc', m, np.einsum('lk,jkc->jlc', m, canvas))


def read_split(csv_path, root, size):
    rows = list(csv.DictReader(open(csv_path)))
    x = np.stack([face_input(os.path.join(root, r['path']), size) for r in rows]).transpose(0, 3, 1, 2)
    y = np.array([LABELS.index(ALIASES.get(r['label'], r['label'])) for r in rows])
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def augment(x, generator):
    """Random rotation ±10°, scale ±10%, shift ±10%, mirror, brightness ±25 and contrast ±25%."""
    n = x.shape[0]
    u = lambda: torch.rand(n, generator=generator) * 2 - 1
    angle, scale, tx, ty = u() * math.radians(10), 1 + u() * 0.1, u() * 0.1, u() * 0.1
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=False)
    brightness = u().view(n, 1, 1, 1) * 25
    contrast = 1 + u().view(n, 1, 1, 1) * 0.25
    mean = x.mean((1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean + brightness).clamp(0, 255)


def precision_at_10(features, labels):
    """Leave-one-out share of each face's 10 nearest (cosine) that share its label."""
    e = F.normalize(features, dim=1)
    sim = e @ e.t()
    sim.fill_diagonal_(-2)
    top = sim.topk(10, dim=1).indices
    return (labels[top] == labels[:, None]).float().mean().item()


def embed(net, x, batch=256):
    with torch.no_grad():
        return torch.cat([net(x[i:i + batch].contiguous(memory_format=torch.channels_last))[0]
                          for i in range(0, len(x), batch)])


def probe_input(size):
    """A fixed smooth test pattern (RGB 0..255) that the converter's parity test builds the same way."""
    c, i, j = np.meshgrid(np.arange(3), np.arange(size), np.arange(size), indexing='ij')
    return torch.from_numpy((127.5 + 127.5 * np.sin(0.11 * i + 0.07 * j + c)).astype(np.float32))[None]


def probe_outputs(weights_json, size):
    """The written weights' feature and probabilities on the probe: what the ONNX model must give."""
    net = FaceExpressionNet()
    load_tfjs(net, read_tfjs(weights_json))
    net.eval()
    with torch.no_grad():
        feature, logits = net(probe_input(size))
    return {'embedding': [float(v) for v in feature[0]], 'probs': [float(v) for v in logits.softmax(1)[0]]}


def sha256_file(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--fit', required=True)
    ap.add_argument('--monitor', required=True)
    ap.add_argument('--root', required=True, help='folder the CSV paths are relative to')
    ap.add_argument('--init', default='node_modules/@vladmandic/face-api/model/face_expression_model-weights_manifest.json')
    ap.add_argument('--out', required=True)
    ap.add_argument('--id', help='model id (default: the --out folder name)')
    ap.add_argument('--size', type=int, default=64, help='input side in pixels')
    ap.add_argument('--epochs', type=int, default=12)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--label-smoothing', type=float, default=0.1)
    ap.add_argument('--weight-decay', type=float, default=1e-4)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    generator = torch.Generator().manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    say = lambda msg: print(f'finetune: {msg}', file=sys.stderr, flush=True)

    started = time.time()
    x_fit, y_fit = read_split(a.fit, a.root, a.size)
    x_mon, y_mon = read_split(a.monitor, a.root, a.size)
    say(f'{len(x_fit)} training and {len(x_mon)} monitor faces at {a.size} px ({time.time() - started:.0f} s)')

    net = FaceExpressionNet()
    load_tfjs(net, read_tfjs(a.init))
    net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    steps_per_epoch = math.ceil(len(x_fit) / a.batch)
    total_steps, step = a.epochs * steps_per_epoch, 0
    history, best = [], None
    for epoch in range(1, a.epochs + 1):
        t0 = time.time()
        net.train()
        order = torch.randperm(len(x_fit), generator=generator)
        loss_sum = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * a.batch:(i + 1) * a.batch]
            x = augment(x_fit[idx], generator).contiguous(memory_format=torch.channels_last)
            for group in opt.param_groups:  # cosine decay to 0
                group['lr'] = a.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            step += 1
            _, logits = net(x)
            loss = F.cross_entropy(logits, y_fit[idx], label_smoothing=a.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item()
        net.eval()
        p10 = precision_at_10(embed(net, x_mon), y_mon)
        history.append({'epoch': epoch, 'loss': round(loss_sum / steps_per_epoch, 4),
                        'monitorP10': round(p10, 4), 'seconds': round(time.time() - t0)})
        say(f'epoch {epoch}: loss {loss_sum / steps_per_epoch:.3f}, monitor P@10 {p10:.4f} ({time.time() - t0:.0f} s)')
        if best is None or p10 > best['monitorP10']:
            best = history[-1]
            write_tfjs(net, a.out)

    record = {
        'id': a.id or os.path.basename(os.path.normpath(a.out)),
        'architecture': 'face-api-expression',
        'input': {'size': a.size},
        'weights': {'file': 'weights.json', 'bin': 'weights.bin', 'sha256': sha256_file(os.path.join(a.out, 'weights.bin'))},
        'bestEpoch': best['epoch'],
        'probe': probe_outputs(os.path.join(a.out, 'weights.json'), a.size),
        'history': history,
        'settings': {k: v for k, v in vars(a).items() if k not in ('out', 'fit', 'monitor', 'root', 'init')},
        'data': {'fit': {'file': os.path.basename(a.fit), 'sha256': sha256_file(a.fit), 'faces': len(x_fit)},
                 'monitor': {'file': os.path.basename(a.monitor), 'sha256': sha256_file(a.monitor), 'faces': len(x_mon)},
                 'init': {'file': os.path.basename(a.init), 'sha256': sha256_file(a.init)}},
        'torch': torch.__version__,
        'python': platform.python_version(),
        'seconds': round(time.time() - started),
    }
    with open(os.path.join(a.out, 'training.json'), 'w') as f:
        json.dump(record, f, indent=2)
        f.write('\n')
    say(f"best epoch {best['epoch']} (monitor P@10 {best['monitorP10']}); wrote {a.out}")


if __name__ == '__main__':
    main()
