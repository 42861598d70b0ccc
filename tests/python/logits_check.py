"""The one check that a packed model (qtip.load_causal_lm, or from_pretrained after
import qtip.hf) computes what transformers' load of its dequantized copy computes:
logits of the same ids within 1e-4 relative (`rel` is the caller's error measure),
and far closer to it than the original model is (else the test could not tell the
two apart)."""
import torch


def check_packed_logits(packed, dequantized, original, ids, rel):
    with torch.no_grad():
        lq, ld, lo = packed(ids).logits, dequantized(ids).logits, original(ids).logits
    e, eo = rel(lq, ld), rel(lo, ld)
    print('logits: packed vs dequantized %.2e (original vs dequantized %.2e)' % (e, eo))
    assert e <= 1e-4, 'packed model logits differ from the dequantized model: %.3e' % e
    assert eo > 100 * e, 'the test cannot tell the original from the quantized model'
