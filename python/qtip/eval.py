"""qtip-eval: perplexity of a causal LM on UTF-8 text, and with --reference the
mean KL divergence of its next-token distributions to the reference's and the
top-1 agreement, on the same windows.

  qtip-eval MODEL_DIR [--reference DIR] --text FILE... [--ctx 512] [--windows 20]
            [--rtn-bits B [--rtn-group 128]] [--special-tokens] [--threads N] [--json]

MODEL_DIR: an ordinary Hugging Face directory (original or qtip-verify
--dequantize output) or a qtip-pack directory (loaded with load_causal_lm: the
packed codes decoded by QTIPLinear, never a dense copy). The files are read in
order and concatenated; the tokens are cut into non-overlapping windows of
--ctx tokens and the first --windows of them are scored. Perplexity is
exp(mean negative log-likelihood of every token but each window's first), the
convention of transformers' loss with labels = input ids. Special tokens are not
added unless --special-tokens (the SmolLM2 GGUF tokenizer would prepend a BOS
its metadata says not to add). --rtn-bits B: the round-to-nearest baseline, MODEL_DIR
(an ordinary directory) with every linear qtip quantizes replaced by its B-bit
round-to-nearest copy (python/qtip/rtn.py: asymmetric min-max per group of
--rtn-group inputs)."""
import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault('HF_HUB_OFFLINE', '1')


def is_packed(d):
    try:
        with open(os.path.join(d, 'config.json')) as f:
            return 'quantization_config' in json.load(f) and \
                os.path.exists(os.path.join(d, 'quantize_config.json'))
    except (OSError, ValueError):
        return False


def load_model(d):
    import torch
    if is_packed(d):
        from .model import load_causal_lm
        return load_causal_lm(d, cache_decoded=True)
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()


def windows(model_dir, texts, ctx, count, special_tokens):
    """[count, ctx] token ids: the first `count` non-overlapping windows."""
    import torch
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    text = ''.join(open(t, encoding='utf-8').read() for t in texts)
    ids = tok(text, add_special_tokens=special_tokens)['input_ids']
    n = min(count, len(ids) // ctx)
    if n < 1:
        raise ValueError('the text has %d tokens, fewer than one window of %d' % (len(ids), ctx))
    return torch.tensor(ids[:n * ctx]).view(n, ctx), len(ids)


def score(model, ref, win):
    """Sums over windows: NLL of model (and of ref), KL(ref || model), top-1 agreement."""
    import torch
    import torch.nn.functional as F
    acc = {'nll': 0.0, 'ref_nll': 0.0, 'kl': 0.0, 'top1': 0, 'tokens': 0}
    with torch.no_grad():
        for w in win:
            x, y = w[None, :-1], w[1:]
            lp = F.log_softmax(model(x).logits[0].float(), dim=-1)
            acc['nll'] += float(-lp.gather(1, y[:, None]).sum())
            acc['tokens'] += y.numel()
            if ref is not None:
                lr = F.log_softmax(ref(x).logits[0].float(), dim=-1)
                acc['ref_nll'] += float(-lr.gather(1, y[:, None]).sum())
                acc['kl'] += float((lr.exp() * (lr - lp)).sum())
                acc['top1'] += int((lr.argmax(-1) == lp.argmax(-1)).sum())
    return acc


def evaluate(model_dir, texts, ctx=512, count=20, reference=None, special_tokens=False,
             rtn=None):
    """rtn: None, or (bits, group) of the round-to-nearest baseline of model_dir."""
    t0 = time.monotonic()
    win, total = windows(reference or model_dir, texts, ctx, count, special_tokens)
    model = load_model(model_dir)
    if rtn is not None:
        from . import rtn as rtn_mod
        if is_packed(model_dir):
            raise ValueError('%s is packed: round-to-nearest starts from the original' % model_dir)
        rtn_mod.apply(model, *rtn)
    ref = load_model(reference) if reference else None
    acc = score(model, ref, win)
    n = acc['tokens']
    out = {'model': model_dir, 'packed': is_packed(model_dir), 'ctx': ctx,
           'windows': int(win.shape[0]), 'tokens_scored': n, 'text_tokens': total,
           'special_tokens': special_tokens, 'perplexity': math.exp(acc['nll'] / n)}
    if rtn is not None:
        out['rtn'] = {'bits': rtn[0], 'group': rtn[1],
                      'bits_per_weight': rtn_mod.bits_per_weight(*rtn)}
    if ref is not None:
        out.update(reference=reference, reference_perplexity=math.exp(acc['ref_nll'] / n),
                   kl_mean=acc['kl'] / n, top1_agreement=acc['top1'] / n)
    out['seconds'] = round(time.monotonic() - t0, 2)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog='qtip-eval', description=__doc__.split('\n\n')[0])
    ap.add_argument('model')
    ap.add_argument('--reference', help='the original model: KL and top-1 agreement against it')
    ap.add_argument('--text', nargs='+', required=True, help='UTF-8 text files')
    ap.add_argument('--ctx', type=int, default=512, help='tokens per window (default 512)')
    ap.add_argument('--windows', type=int, default=20, help='windows scored (default 20)')
    ap.add_argument('--rtn-bits', type=int, help='evaluate the round-to-nearest copy with this many bits')
    ap.add_argument('--rtn-group', type=int, default=128, help='inputs per round-to-nearest group (128)')
    ap.add_argument('--special-tokens', action='store_true', help="add the tokenizer's special tokens")
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: all cores)')
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads or os.cpu_count() or 1)
    try:
        rtn = None if a.rtn_bits is None else (a.rtn_bits, a.rtn_group)
        out = evaluate(a.model, a.text, a.ctx, a.windows, a.reference, a.special_tokens, rtn)
    except (OSError, ValueError) as e:
        print('qtip-eval: error: %s' % e, file=sys.stderr)
        return 1
    if a.json:
        json.dump(out, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write('\n')
    else:
        print('perplexity %.4f (%d windows of %d tokens)' % (out['perplexity'], out['windows'], out['ctx']))
        if a.reference:
            print('reference perplexity %.4f, KL %.5f, top-1 agreement %.4f' % (
                out['reference_perplexity'], out['kl_mean'], out['top1_agreement']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
