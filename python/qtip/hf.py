"""import qtip.hf: transformers' own AutoModelForCausalLM.from_pretrained(packed_dir)
loads a qtip-pack directory as a quantized model, every quantized linear a
QTIPLinear holding the packed tensors (no dense weight, no dequantized copy).

Importing registers, for the quant_method values qtip-pack writes into config.json's
quantization_config ("qtip", and "quip#" for E8P-only directories), a quantization
config class (QtipConfig) and an HfQuantizer (QtipHfQuantizer):

- transformers releases that define transformers.quantizers.auto.register_quantizer
  and register_quantization_config get them through those functions;
- the pinned 4.47.1 defines neither, only the dicts they fill
  (AUTO_QUANTIZER_MAPPING, AUTO_QUANTIZATION_CONFIG_MAPPING, looked up by
  from_pretrained through AutoHfQuantizer): the bridge inserts the classes there.

from_pretrained then builds the model on the meta device (quantized models always
load with low_cpu_mem_usage), calls the quantizer, which puts a QTIPLinear at every
prefix of quantize_config.json (qtip.replace, the same code as load_causal_lm), and
hands it each packed tensor of the state dict as stored: torch_dtype applies to the
other tensors only (QTIPLinear computes in fp32 and returns its input's dtype).
Strict where from_pretrained only warns: a tensor the model expects but the
directory lacks, or one the directory has but the model does not take (a dense
weight of a quantized layer, say), is an error, never a random or ignored weight.
"""
import re
from enum import Enum

from transformers.quantizers import auto as _auto
from transformers.quantizers.base import HfQuantizer
from transformers.utils import cached_file
from transformers.utils.quantization_config import QuantizationConfigMixin

from .linear import QTIPLinear
from .packed import PACKED_SUFFIXES, PackedFormatError, check_quantization_config, read_layers
from .replace import replace_linears, require_loaded

__all__ = ['QtipConfig', 'QtipHfQuantizer', 'register']


class QtipMethod(str, Enum):
    """The quant_method values of qtip-pack (from_pretrained reads .value)."""
    QTIP = 'qtip'
    QUIP_SHARP = 'quip#'


class QtipConfig(QuantizationConfigMixin):
    """config.json's quantization_config (docs/formats/model-dir.md), every field
    kept; the per-layer settings are in quantize_config.json beside it."""

    def __init__(self, quant_method='qtip', **fields):
        self.quant_method = QtipMethod(quant_method)
        for name, value in fields.items():
            setattr(self, name, value)
        check_quantization_config(fields, 'config.json')

    def to_dict(self):
        """The fields as config.json holds them."""
        return dict(super().to_dict(), quant_method=self.quant_method.value)

    def to_diff_dict(self):
        return self.to_dict()  # there are no defaults: every field comes from config.json


class QtipHfQuantizer(HfQuantizer):
    """Loads what qtip-pack wrote; quantizes nothing itself (qtip-run does)."""
    requires_calibration = True
    requires_parameters_quantization = True  # packed tensors go through create_quantized_param

    def validate_environment(self, *args, **kwargs):
        # requires_calibration: HfQuantizer already refuses to quantize (qtip-run does)
        if kwargs.get('from_tf') or kwargs.get('from_flax'):
            raise ValueError('a qtip-pack directory holds safetensors, not TF or Flax weights')

    def _process_model_before_weight_loading(self, model, **kwargs):
        where = model.config.name_or_path
        if not all(p.is_meta for p in model.parameters()):
            raise ValueError('%s: load a qtip model with low_cpu_mem_usage=True (the default for '
                             'quantized models): otherwise every replaced linear would first get '
                             'a dense weight' % where)
        layers = read_layers(cached_file(where, 'quantize_config.json'))
        replace_linears(model, layers)
        self.layers = sorted(layers)

    def check_quantized_param(self, model, param_value, param_name, state_dict, **kwargs):
        prefix, _, leaf = param_name.rpartition('.')
        try:
            return leaf in PACKED_SUFFIXES and isinstance(model.get_submodule(prefix), QTIPLinear)
        except AttributeError:
            return False

    def create_quantized_param(self, model, param_value, param_name, target_device, state_dict,
                               unexpected_keys=None):
        prefix, _, leaf = param_name.rpartition('.')
        # param_value has been cast to torch_dtype already; the state dict holds the
        # tensor as stored (an fp32 table must not pass through bf16)
        stored = state_dict.get(param_name, param_value)
        model.get_submodule(prefix).load_packed(leaf, stored.to(target_device))

    def update_expected_keys(self, model, expected_keys, loaded_keys):
        ignored = getattr(model, '_keys_to_ignore_on_load_unexpected', None) or []
        unknown = sorted(k for k in set(loaded_keys) - set(expected_keys)
                         if not any(re.search(p, k) for p in ignored))
        if unknown:
            raise PackedFormatError('%s: tensors the model does not take: %s'
                                    % (model.config.name_or_path, ', '.join(unknown[:5])))
        return expected_keys

    def update_missing_keys(self, model, missing_keys, prefix):
        if missing_keys:  # tied weights are no longer listed here
            raise PackedFormatError('%s: tensors missing from the directory: %s'
                                    % (model.config.name_or_path, ', '.join(missing_keys[:5])))
        return missing_keys

    def _process_model_after_weight_loading(self, model, **kwargs):
        require_loaded(model, model.config.name_or_path)
        return model

    def is_serializable(self, safe_serialization=None):
        return False  # save_pretrained would lose quantize_config.json: copy the directory

    @property
    def is_trainable(self):
        return False


def _put(register_name, mapping_name, key, cls):
    """Register cls under key once: through transformers' register function where
    the installed version has one, else (4.47.1) into the mapping it would fill."""
    mapping = getattr(_auto, mapping_name)
    if mapping.get(key) is cls:
        return
    if hasattr(_auto, register_name):
        getattr(_auto, register_name)(key)(cls)
    else:
        mapping[key] = cls


def register():
    """Make from_pretrained load qtip-pack directories (done on import; idempotent)."""
    for method in QtipMethod:
        _put('register_quantization_config', 'AUTO_QUANTIZATION_CONFIG_MAPPING', method.value, QtipConfig)
        _put('register_quantizer', 'AUTO_QUANTIZER_MAPPING', method.value, QtipHfQuantizer)


register()
