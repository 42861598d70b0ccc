#!/usr/bin/env python3
"""The transformers path's answer for scripts/gpu-check-vllm.sh: a packed directory
loaded by qtip.load_causal_lm (QTIPLinear decoding the codes, fp32), the prompt's
token ids, the next token's top-k log-probabilities and a short greedy continuation.

  transformers_next_token.py PACKED_DIR OUT_JSON [PROMPT]

Runs with whichever Python has torch, transformers and accelerate (the project's
.venv first, as scripts/gpu-check-vllm.sh picks it); python/ must be importable.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'python'))
PROMPT = 'The capital of France is'
TOP_K = 5
CONTINUATION = 8


def main():
    import torch
    from transformers import AutoTokenizer
    from qtip import load_causal_lm
    packed, out = sys.argv[1], sys.argv[2]
    prompt = sys.argv[3] if len(sys.argv) > 3 else PROMPT
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    ids = AutoTokenizer.from_pretrained(packed)(prompt)['input_ids']
    model = load_causal_lm(packed, dtype=torch.float32).to(device)
    x = torch.tensor([ids], device=device)
    with torch.no_grad():
        logp = torch.log_softmax(model(x).logits[0, -1].double(), dim=-1)
        top = torch.topk(logp, TOP_K)
        greedy = []
        for _ in range(CONTINUATION):  # plain greedy loop: no generate() config to differ
            nxt = int(model(x).logits[0, -1].argmax())
            greedy.append(nxt)
            x = torch.cat([x, torch.tensor([[nxt]], device=device)], dim=1)
    result = {'prompt': prompt, 'prompt_ids': ids, 'device': device,
              'top': [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
              'greedy': greedy}
    with open(out, 'w') as f:
        json.dump(result, f)
    print('transformers path (%s): next token %d, log-prob %.4f' % (device, result['top'][0][0],
                                                                    result['top'][0][1]))


if __name__ == '__main__':
    main()
