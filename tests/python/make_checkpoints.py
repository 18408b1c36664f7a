"""Checkpoint fixtures for test_checkpoint, written by real torch.save (run with /usr/bin/python3).

    make_checkpoints.py make DIR        write the fixtures into DIR
    make_checkpoints.py check FILE REF  exit 0 iff torch.load(FILE) is an OrderedDict holding
                                        exactly the tensors of torch.load(REF), same order
    make_checkpoints.py sha256 FILE     print hashlib's SHA-256 of FILE

'make' writes the state dict in both torch.save formats (zip, and the legacy stream with
_use_new_zipfile_serialization=False that the official BagNet weights use), wrapped variants,
files that must be refused, and the expected values: expected.txt has one line per tensor,
"key<TAB>dtype<TAB>dim,dim,...", and expected/<i>.bin its raw little-endian bytes (C order).
"""
import collections
import hashlib
import os
import pickle
import sys
import tarfile

import torch

# Same-size integer views for the dtypes numpy lacks, so every tensor dumps as raw bytes.
RAW_VIEW = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.bool: torch.uint8}


def raw_bytes(t):
    t = t.detach().contiguous()
    if t.dtype in RAW_VIEW:
        t = t.view(RAW_VIEW[t.dtype])
    return t.numpy().tobytes()


def state_dict():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    net[1].running_mean.uniform_()
    net[1].num_batches_tracked += 7
    # A module's state_dict(): an OrderedDict with _metadata (pickled with BUILD), a 4-d
    # weight and a 0-dim int64 num_batches_tracked.
    sd = net.state_dict()
    base = torch.randn(5, 7)
    sd['shared.base'] = base
    sd['shared.transposed'] = base.t()    # same storage, other strides
    sd['shared.slice'] = base[1:4, 2:6]   # same storage, an offset, not contiguous
    sd['expanded'] = torch.randn(3, 1).expand(3, 4)  # stride 0
    sd['scalar'] = torch.tensor(3.25)
    sd['special'] = torch.tensor([float('nan'), float('inf'), -float('inf'), -0.0, 1e-40])
    sd['f64'] = torch.randn(2, 3, dtype=torch.float64)
    sd['f16'] = torch.randn(6).half()
    sd['bf16'] = torch.randn(6).bfloat16()
    sd['i64'] = torch.tensor([-(2 ** 40), 0, 2 ** 62 + 5], dtype=torch.int64)
    sd['i32'] = torch.tensor([[-5, 7], [2 ** 31 - 1, -2 ** 31]], dtype=torch.int32)
    sd['i16'] = torch.tensor([-300, 300], dtype=torch.int16)
    sd['i8'] = torch.tensor([-128, 127], dtype=torch.int8)
    sd['u8'] = torch.arange(250, 256, dtype=torch.uint8)
    sd['bool'] = torch.tensor([True, False, True])
    sd['empty'] = torch.zeros(0, 3)
    sd['five_d'] = torch.randn(2, 1, 2, 1, 3)
    sd['param'] = torch.nn.Parameter(torch.randn(2, 2))  # pickled via _rebuild_parameter
    return sd


class Evil:
    """Saving this pickles os.system; loading it with pickle would run the command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def save_both(obj, directory, stem, **kwargs):
    torch.save(obj, os.path.join(directory, stem + '_zip.pt'), **kwargs)
    torch.save(obj, os.path.join(directory, stem + '_legacy.pt'),
               _use_new_zipfile_serialization=False, **kwargs)


def make(directory):
    os.makedirs(os.path.join(directory, 'expected'), exist_ok=True)
    sd = state_dict()
    with open(os.path.join(directory, 'expected.txt'), 'w') as manifest:
        for i, (key, t) in enumerate(sd.items()):
            dims = ','.join(str(d) for d in t.shape)
            manifest.write(f'{key}\t{str(t.dtype)[len("torch."):]}\t{dims}\n')
            with open(os.path.join(directory, 'expected', f'{i}.bin'), 'wb') as f:
                f.write(raw_bytes(t))

    save_both(sd, directory, 'sd')
    # Protocol 4 (FRAME, MEMOIZE, SHORT_BINUNICODE, ...) reads the same; 0 is refused.
    save_both(sd, directory, 'sd_p4', pickle_protocol=4)
    save_both(sd, directory, 'sd_p0', pickle_protocol=0)
    prefixed = collections.OrderedDict(('module.' + k, v) for k, v in sd.items())
    save_both({'state_dict': prefixed, 'epoch': 3, 'arch': 'bagnet33'}, directory, 'wrapped')
    save_both({'model': sd, 'optimizer': {'lr': 0.1, 'momentum': 0.9}}, directory, 'model')

    # Files that must be refused.
    marker = os.path.join(directory, 'pwned')
    save_both({'weight': torch.ones(2), 'payload': Evil('touch ' + marker)}, directory, 'evil')
    save_both(torch.nn.Linear(2, 2), directory, 'module')  # a whole pickled module
    save_both([torch.ones(2)], directory, 'list')
    save_both({'epoch': 3, 'arch': 'bagnet33'}, directory, 'no_tensors')
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(directory, 'script.pt'))
    with open(os.path.join(directory, 'plain.pkl'), 'wb') as f:
        pickle.dump({'weight': [1.0, 2.0]}, f, protocol=2)
    with tarfile.open(os.path.join(directory, 'old.tar'), 'w') as tar:
        tar.add(os.path.join(directory, 'expected.txt'), arcname='sys_info')


def check(path, reference):
    # weights_only=True: the file must also pass torch's own restricted unpickler.
    loaded = torch.load(path, weights_only=True)
    expected = torch.load(reference)
    problems = []
    if type(loaded) is not collections.OrderedDict:
        problems.append(f'top-level object is {type(loaded).__name__}, not OrderedDict')
    elif list(loaded.keys()) != list(expected.keys()):
        problems.append(f'keys {list(loaded.keys())} != {list(expected.keys())}')
    else:
        for key, t in expected.items():
            got = loaded[key]
            if type(got) is not torch.Tensor:
                problems.append(f'{key}: {type(got).__name__}, not a plain tensor')
            elif got.dtype != t.dtype or got.shape != t.shape or raw_bytes(got) != raw_bytes(t):
                problems.append(f'{key}: {got.dtype} {tuple(got.shape)} differs from '
                                f'{t.dtype} {tuple(t.shape)}')
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 3 and argv[1] == 'make':
        make(argv[2])
        return 0
    if len(argv) == 4 and argv[1] == 'check':
        return check(argv[2], argv[3])
    if len(argv) == 3 and argv[1] == 'sha256':
        with open(argv[2], 'rb') as f:
            print(hashlib.sha256(f.read()).hexdigest())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
