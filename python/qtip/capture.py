"""Calibration capture: Hessians of every linear input of a Llama-family causal
LM, streamed into `qtip-hessian accumulate` (docs/cmd/capture.md).

  calib/capture.py capture --model DIR -o OUT [options] TEXT...
  calib/capture.py merge -o OUT SHARD_DIR...

Forward pre-hooks on the first linear of each site copy its fp32 input to that
site's accumulate process; torch computes nothing but the forward. Sites are
streamed in passes of consecutive sites whose accumulators fit in
--max-accumulator-memory; a pass stops its forward after the last block it
needs. OUT gets one Hessian per linear (<prefix>.safetensors, sites shared by
q/k/v and gate/up as hard links) and capture.json (provenance).
"""
import argparse
import json
import os
import resource
import sys
import time

from . import capture_merge
from .capture_progress import Progress
from .capture_sites import CaptureError, accumulator_bytes, find_sites, group_sites
from .capture_stream import QUEUE_DEPTH, SiteStream, find_qtip_hessian
from .capture_text import (choose_windows, parse_shard, read_tokens, shard_windows,
                           window_digest)

PROVENANCE = 'capture.json'
DTYPES = {'f32': 'float32', 'bf16': 'bfloat16', 'f16': 'float16'}


class _StopForward(Exception):
    """Raised after the last block a pass needs: the rest of the forward is skipped."""


def parse_size(text):
    units = {'': 1, 'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
    t = text.strip().upper().rstrip('B').rstrip('I')
    unit = t[-1] if t and t[-1] in units else ''
    try:
        value = float(t[:-1] if unit else t)
    except ValueError:
        raise argparse.ArgumentTypeError("'%s': expected a size such as 4G or 512M" % text)
    if value <= 0:
        raise argparse.ArgumentTypeError("'%s': must be positive" % text)
    return int(value * units[unit])


def default_accumulator_memory():
    """40% of physical memory, at least 4 GiB: on a 24 GiB machine every site of
    SmolLM2-135M (120 accumulators, ~6.6 GB) fits one pass, so the forward runs
    once instead of 1.6 times. The number of passes never changes the Hessians
    (each accumulator sees the same rows in the same order)."""
    try:
        phys = os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (ValueError, OSError, AttributeError):
        phys = 0
    return max(4 << 30, int(phys * 0.4))


def load_model(model_dir, dtype_name):
    """Config check, structure check on empty weights, then the real load."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM
    if not os.path.isfile(os.path.join(model_dir, 'config.json')):
        raise CaptureError('%s: no config.json (a Hugging Face model directory is needed; '
                           'convert a GGUF file with calib/gguf_to_hf.py)' % model_dir)
    try:
        config = AutoConfig.from_pretrained(model_dir)
        with init_empty_weights():
            skeleton = AutoModelForCausalLM.from_config(config)
    except (ValueError, KeyError) as e:
        raise CaptureError('%s: transformers cannot build this model as a causal LM (%s)'
                           % (model_dir, str(e).splitlines()[0])) from None
    find_sites(skeleton)  # refuses other architectures before any weight is read
    del skeleton
    dtype = getattr(torch, DTYPES[dtype_name])
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype)
    model.eval()
    return model, config


def model_source(model_dir, config):
    """What the weights are, as the directory says (gguf_to_hf.py records it)."""
    src = getattr(config, 'qtip_source', None)
    return src if src else {'kind': 'huggingface-directory'}


def _hook_for(stream, dim):
    def hook(_module, inputs):
        x = inputs[0].detach()
        stream.put(x.reshape(-1, dim).to(dtype=_f32(), copy=True).numpy())
    return hook


def _f32():
    import torch
    return torch.float32


def run_pass(model, group, windows_ids, exe, out_dir, device, progress):
    """One forward per window over the blocks of `group`; their Hessian files."""
    import torch
    streams, handles = [], []
    layers = model.model.layers
    try:
        for s in group:
            st = SiteStream(exe, s.name, s.dim, os.path.join(out_dir, s.file), device)
            streams.append(st)
            handles.append(model.get_submodule(s.members[0]).register_forward_pre_hook(
                _hook_for(st, s.dim)))

        def stop(_m, _i, _o):
            raise _StopForward()
        handles.append(layers[group[-1].layer].register_forward_hook(stop))
        t0 = time.time()
        with torch.no_grad():
            for ids in windows_ids:
                try:
                    model(input_ids=ids, use_cache=False)
                except _StopForward:
                    pass
                progress.step()
        for h in handles:
            h.remove()
        handles = []
        t1 = time.time()
        for st in streams:
            st.finish()
        return {'sites': len(group), 'last_block': group[-1].layer,
                'forward_s': round(t1 - t0, 3), 'drain_s': round(time.time() - t1, 3),
                'accumulate_cpu_s': round(sum(st.cpu_seconds for st in streams), 3),
                'accumulate_peak_rss_one': max(st.max_rss for st in streams),
                'accumulate_peak_rss_sum': sum(st.max_rss for st in streams)}
    except BaseException:
        for h in handles:
            h.remove()
        for st in streams:
            st.abort()
        raise


def link_members(out_dir, sites):
    """Every member after the first: a hard link to the site's file."""
    for s in sites:
        src = os.path.join(out_dir, s.file)
        for f in s.files[1:]:
            dst = os.path.join(out_dir, f)
            tmp = dst + '.link-tmp'
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.link(src, tmp)
            os.replace(tmp, dst)


def dir_bytes(path):
    seen, total = set(), 0
    for name in os.listdir(path):
        st = os.stat(os.path.join(path, name))
        if st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_blocks * 512
    return total


def capture(args):
    import numpy as np
    import torch
    from transformers import AutoTokenizer
    t0 = time.time()
    torch.set_num_threads(args.threads)
    exe = find_qtip_hessian(args.qtip_bin)
    shard = parse_shard(args.shard)
    for p in args.text:
        if not os.path.isfile(p):
            raise CaptureError('%s: no such text file' % p)
    model, config = load_model(args.model, args.torch_dtype)
    sites = find_sites(model)
    tok = AutoTokenizer.from_pretrained(args.model)
    tokens, files = read_tokens(tok, args.text, args.add_special_tokens)
    starts = choose_windows(len(tokens), args.windows, args.ctx, args.seed)
    mine = shard_windows(starts, shard)
    if not mine:
        raise CaptureError('shard %s of %d windows is empty' % (args.shard, len(starts)))
    ids = [torch.from_numpy(tokens[s:s + args.ctx].astype(np.int64))[None] for s in mine]
    queue_bytes = lambda dim: (QUEUE_DEPTH + 1) * args.ctx * dim * 4  # noqa: E731
    groups = group_sites(sites, args.max_accumulator_memory, queue_bytes)
    os.makedirs(args.output, exist_ok=True)
    t_load = time.time() - t0
    progress = Progress(len(groups) * len(mine), args.progress, 'capture')
    passes = [run_pass(model, g, ids, exe, args.output, args.accumulate_device, progress)
              for g in groups]
    progress.done()
    link_members(args.output, sites)
    seconds = time.time() - t0
    ntok = len(mine) * args.ctx
    self_use = resource.getrusage(resource.RUSAGE_SELF)
    memory = {'capture_peak_rss': self_use.ru_maxrss * 1024,
              'accumulate_peak_rss_one': max(p['accumulate_peak_rss_one'] for p in passes),
              'accumulate_peak_rss_pass_sum': max(p['accumulate_peak_rss_sum'] for p in passes),
              'max_accumulator_memory': args.max_accumulator_memory}
    prov = _provenance(args, model, config, tok, files, tokens, shard, mine, sites)
    prov.update(tokens=ntok, passes=len(groups), pass_detail=passes, memory=memory,
                capture_cpu_s=round(self_use.ru_utime + self_use.ru_stime, 3),
                seconds={'load_and_tokenize': round(t_load, 3), 'total': round(seconds, 3)})
    _write_json(os.path.join(args.output, PROVENANCE), prov)
    prov['memory']['disk_bytes'] = dir_bytes(args.output)
    return {'output': args.output, 'tokens': ntok, 'windows': len(mine), 'sites': len(sites),
            'files': sum(len(s.files) for s in sites), 'passes': len(groups),
            'seconds': round(seconds, 3),
            'tokens_per_s': round(ntok / max(seconds - t_load, 1e-9), 2),
            'capture_cpu_s': prov['capture_cpu_s'],
            'accumulate_cpu_s': round(sum(p['accumulate_cpu_s'] for p in passes), 3),
            'memory': prov['memory']}


def _provenance(args, model, config, tok, files, tokens, shard, mine, sites):
    return {
        'format': 'qtip.capture', 'format_version': 1,
        'model': {'dir': os.path.basename(os.path.normpath(args.model)),
                  'architectures': list(getattr(config, 'architectures', None) or []),
                  'model_type': config.model_type, 'num_hidden_layers': len(model.model.layers),
                  'compute_dtype': args.torch_dtype, 'source': model_source(args.model, config)},
        'tokenizer': {'class': type(tok).__name__, 'add_special_tokens': args.add_special_tokens},
        'text': {'files': [dict(f, path=os.path.basename(f['path'])) for f in files],
                 'tokens': int(len(tokens))},
        'windows': {'count': args.windows, 'ctx': args.ctx, 'seed': args.seed,
                    'selection': 'non-overlapping ctx-aligned slices, PCG64(seed).choice '
                                 'without replacement, sorted; shard i/n takes [i::n]',
                    'shard': [shard[0], shard[1]], 'starts': mine,
                    'sha256_16': [window_digest(tokens, s, args.ctx) for s in mine]},
        'sites': [{'site': s.name, 'dim': s.dim, 'file': s.file, 'members': s.members}
                  for s in sites],
    }


def _write_json(path, obj):
    # a temporary of its own: merge --sites tasks write the same provenance at once
    tmp = '%s.%d.tmp' % (path, os.getpid())
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1)
        f.write('\n')
    os.replace(tmp, path)


def build_parser():
    p = argparse.ArgumentParser(prog='capture.py', description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='command', required=True)
    c = sub.add_parser('capture', help='Hessians of every linear input from text windows')
    c.add_argument('--model', required=True, help='Hugging Face causal-LM directory')
    c.add_argument('-o', '--output', required=True, help='output directory for the Hessians')
    c.add_argument('text', nargs='+', help='UTF-8 text files, tokenized in the order given')
    c.add_argument('--windows', type=int, default=128, help='windows of --ctx tokens (128)')
    c.add_argument('--ctx', type=int, default=512, help='tokens per window (512)')
    c.add_argument('--seed', type=int, default=0, help='window choice seed (0)')
    c.add_argument('--shard', default='0/1', help='i/n: this job takes windows i, i+n, ... (0/1)')
    c.add_argument('--add-special-tokens', action='store_true',
                   help="prepend the tokenizer's BOS to each file")
    c.add_argument('--max-accumulator-memory', type=parse_size, default=default_accumulator_memory(),
                   help='memory for the accumulate processes of one pass (default: 40%% of '
                        'physical memory, at least 4G); more sites than fit take further '
                        'passes over the windows')
    c.add_argument('--torch-dtype', choices=sorted(DTYPES), default='f32',
                   help='forward dtype (f32); activations go to the C tool as f32')
    # half the cores: the accumulate processes (one BLAS thread each) use the rest;
    # torch's OpenMP threads spin and slow 4-6x when oversubscribed
    c.add_argument('--threads', type=int, default=max(1, (os.cpu_count() or 1) // 2),
                   help='torch threads (half the cores)')
    c.add_argument('--accumulate-device', default='cpu',
                   help='qtip-hessian accumulate --device (cpu)')
    _common(c)
    m = sub.add_parser('merge', help='merge shard capture directories into one')
    m.add_argument('-o', '--output', required=True)
    m.add_argument('shards', nargs='+', help='directories written by capture --shard i/n')
    m.add_argument('--sites', default='0/1',
                   help='g/m: merge sites g, g+m, ... only, so m jobs share the work (0/1)')
    _common(m)
    return p


def _common(p):
    p.add_argument('--qtip-bin', help='directory of the qtip-* commands ($QTIP_BIN, build/, PATH)')
    g = p.add_mutually_exclusive_group()
    g.add_argument('--progress', dest='progress', action='store_true', default=None,
                   help='progress with ETA on stderr even when it is not a terminal')
    g.add_argument('--no-progress', dest='progress', action='store_false')
    p.add_argument('--json', action='store_true', help='print a JSON summary on stdout')


def main(argv=None):
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    args = build_parser().parse_args(argv)
    if args.progress is None:
        args.progress = sys.stderr.isatty()
    try:
        if args.command == 'capture':
            summary = capture(args)
        else:
            summary = capture_merge.merge(args, find_qtip_hessian(args.qtip_bin))
    except CaptureError as e:
        print('capture: error: %s' % e, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=1))
    return 0
