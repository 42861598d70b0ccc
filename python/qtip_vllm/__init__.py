"""The qtip vLLM plugin: serve qtip-pack directories (QTIP trellis and QuIP# E8P
layers) with `vllm serve packed_dir --quantization qtip`.

vLLM calls register() in every process it starts, through the entry point group
vllm.general_plugins (pyproject.toml); it registers QtipConfig under both
quant_method names qtip-pack writes. See docs/serving-vllm.md."""
__all__ = ['register']


def register():
    """Register "qtip" and "quip#" with vLLM (idempotent)."""
    from vllm.model_executor.layers.quantization import register_quantization_config

    from .config import QtipConfig
    from .settings import METHODS
    for name in METHODS:
        register_quantization_config(name)(QtipConfig)
