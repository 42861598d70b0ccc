"""QtipConfig: vLLM's QuantizationConfig for qtip-pack directories (QTIP trellis and
QuIP# E8P layers, mixed or not), registered as "qtip" and "quip#".

vLLM builds it from config.json's quantization_config (or, when config.json has
none, from quantize_config.json: get_config_filenames), then calls
maybe_update_config with the model directory: the per-layer settings of a
qtip-pack directory are in its quantize_config.json "layers", read there.
get_quant_method then gives each linear layer the QTIP method when the checkpoint
quantized it (all of its stacked sub-layers) and vLLM's unquantized method when not.
"""
import os

import torch
from vllm.model_executor.layers.linear import LinearBase, UnquantizedLinearMethod
from vllm.model_executor.layers.quantization.base_config import QuantizationConfig

from qtip.packed import PackedFormatError, read_layers

from .settings import METHODS, load_table, parse


class QtipConfig(QuantizationConfig):

    def __init__(self, cfg):
        super().__init__()
        self.settings, self.layers, self.checkpoint_tp = parse(cfg)
        # qtip-pack's config.json names the format; its layers are in quantize_config.json
        self.layers_in_dir = self.layers is None and 'format' in cfg
        self.model_dir = None
        self._tables = {}

    def __repr__(self):
        return 'QtipConfig(%s, %s layers)' % (self.settings.get('decode_mode', self.settings.get('codebook')),
                                              'all' if self.layers is None else len(self.layers))

    def get_name(self):
        return 'qtip'

    def get_supported_act_dtypes(self):
        return [torch.float32, torch.float16, torch.bfloat16]

    @classmethod
    def get_min_capability(cls):
        return 60  # the torch fallback needs no particular GPU

    @staticmethod
    def get_config_filenames():
        return ['quantize_config.json']

    @classmethod
    def from_config(cls, config):
        return cls(config)

    @classmethod
    def override_quantization_method(cls, hf_quant_cfg, user_quant, hf_config=None):
        """A quip# (E8P-only) directory is served by the same method: both names
        resolve to "qtip", so `--quantization qtip` fits either."""
        if hf_quant_cfg.get('quant_method') in METHODS and user_quant in (None,) + METHODS:
            return 'qtip'
        return None

    def maybe_update_config(self, model_name, hf_config=None, revision=None):
        self.model_dir = model_name if os.path.isdir(model_name) else None
        if not self.layers_in_dir:
            return
        self.layers = read_layers(self._file(model_name, 'quantize_config.json', revision))
        self.layers_in_dir = False

    @staticmethod
    def _file(model_name, name, revision):
        if os.path.isdir(model_name):
            return os.path.join(model_name, name)
        from huggingface_hub import hf_hub_download  # a hub id: vLLM's own dependency
        return hf_hub_download(model_name, name, revision=revision)

    def apply_vllm_mapper(self, hf_to_vllm_mapper):
        """Models that rename modules (hf_to_vllm_mapper): the layers' prefixes follow."""
        if self.layers:
            renamed = {}
            for prefix, s in self.layers.items():
                new = hf_to_vllm_mapper.apply_list([prefix])
                if new:
                    renamed[new[0]] = s
            self.layers = renamed

    def table(self, path):
        """quantlut_path's table, read once per path."""
        if path not in self._tables:
            self._tables[path] = load_table(self.model_dir, path, 'quantize_config.json')
        return self._tables[path]

    def sub_layers(self, prefix):
        """The checkpoint's layer names stacked in vLLM's layer prefix, in shard order."""
        parent, _, leaf = prefix.rpartition('.')
        parts = self.packed_modules_mapping.get(leaf)
        if not parts:
            return [prefix]
        return [(parent + '.' if parent else '') + p for p in parts]

    def layer_settings(self, name):
        """The settings a layer was quantized with, or None if it was not."""
        if self.layers is None:
            return dict(self.settings)
        s = self.layers.get(name)
        return None if s is None else dict(s)

    def get_quant_method(self, layer, prefix):
        if self.layers_in_dir:
            raise PackedFormatError('qtip: the per-layer settings of quantize_config.json were not '
                                    'read (maybe_update_config was not called with the model directory)')
        if not isinstance(layer, LinearBase):
            if self.layers is not None and prefix in self.layers:
                raise PackedFormatError('%s: a quantized %s; the qtip plugin quantizes linear layers '
                                        'only' % (prefix, type(layer).__name__))
            return None
        names = self.sub_layers(prefix)
        settings = [self.layer_settings(n) for n in names]
        if all(s is None for s in settings):
            return UnquantizedLinearMethod()
        if any(s is None for s in settings):
            raise PackedFormatError('%s stacks %s; the checkpoint quantized only %s: vLLM runs them as '
                                    'one layer, so all or none must be quantized'
                                    % (prefix, ', '.join(names), ', '.join(n for n, s in zip(names, settings) if s)))
        from .method import QtipLinearMethod
        return QtipLinearMethod(self, prefix, names, settings)

