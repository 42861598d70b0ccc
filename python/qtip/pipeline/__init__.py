"""qtip.pipeline: the resumable driver (qtip-run) from a model directory to a
packed, verified and evaluated model. Standard library only; the evaluation
stage runs qtip-eval (torch) as a subprocess."""
