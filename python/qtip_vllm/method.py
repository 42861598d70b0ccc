"""QtipLinearMethod: vLLM's linear method for one layer of a qtip-pack directory.

create_weights declares the packed tensors under the checkpoint's own suffixes
(qtip_codes, SU, SV, Wscale, tlut), so a model's load_weights finds them by the
names it already maps (q_proj.qtip_codes -> qkv_proj.qtip_codes, shard "q"); the
parameters' weight_loader puts each sub-layer's tensor in its slot (settings.Plan)
and checks its shape and dtype against the layer's settings.
Under tensor parallelism each rank's parameters hold its own slice of every
sub-layer (settings.serving_settings, shard_loaded): a layer of its own, whose
Hadamard blocks are local (qtip.tensor_parallel); a degree the checkpoint was not
quantized for is refused in create_weights, naming both degrees.
process_weights_after_loading refuses a layer missing a sub-layer's tensor and
builds one qtip.linear.QTIPLinear per sub-layer over views of the loaded
parameters; apply runs them (the torch fallback: python/qtip's decoder, the only
one) and concatenates their outputs in shard order.
"""
import functools
import os

import torch
from torch.nn import Parameter
from vllm.model_executor.layers.linear import LinearMethodBase
from vllm.model_executor.utils import set_weight_attrs

from qtip.linear import QTIPLinear
from qtip.packed import PackedFormatError

from .settings import Plan, check_tp, serving_settings, shard_index, shard_loaded, uses_table

# QTIP_VLLM_CACHE_DECODED=1 keeps each layer's decoded Wr after its first forward
# (fp32: faster, but a dense copy per layer; off by default)
CACHE_DECODED = os.environ.get('QTIP_VLLM_CACHE_DECODED') == '1'


class QtipLinearMethod(LinearMethodBase):

    def __init__(self, config, prefix, names, settings):
        self.config, self.prefix, self.names, self.settings = config, prefix, names, settings

    def create_weights(self, layer, input_size_per_partition, output_partition_sizes, input_size,
                       output_size, params_dtype, **extra_weight_attrs):
        side = 'input' if input_size_per_partition != input_size else \
            'output' if sum(output_partition_sizes) != output_size else None
        world = getattr(layer, 'tp_size', 1) if side else 1
        check_tp(self.config.checkpoint_tp, world, self.prefix)
        if len(output_partition_sizes) != len(self.names):
            raise PackedFormatError('%s: vLLM stacks %d outputs, the checkpoint has %d layers (%s)'
                                    % (self.prefix, len(output_partition_sizes), len(self.names),
                                       ', '.join(self.names)))
        rank = getattr(layer, 'tp_rank', 0) if side else 0
        local = serving_settings(self.names, self.settings, input_size_per_partition, output_partition_sizes,
                                 world, rank, side)
        tables = {i: self.config.table(s['quantlut_path']) for i, s in enumerate(self.settings)
                  if uses_table(s) and s.get('quantlut_path')}
        plan = Plan(self.prefix, self.names, local, input_size_per_partition, output_partition_sizes, tables)
        # the whole sub-layers' settings, to slice the checkpoint's tensors by
        plan.full_settings = [dict(s, shape=[m * (world if side == 'output' else 1),
                                             input_size_per_partition * (world if side == 'input' else 1)],
                                   tp_split=s.get('tp_split', side))
                              for s, m in zip(self.settings, output_partition_sizes)]
        plan.rank, plan.world = rank, world
        attrs = {k: v for k, v in extra_weight_attrs.items() if k != 'weight_loader'}
        loader = functools.partial(self.weight_loader, layer)
        for suffix, (shape, dtype) in plan.shapes().items():
            param = Parameter(torch.zeros(shape, dtype=dtype), requires_grad=False)
            set_weight_attrs(param, dict(attrs, weight_loader=loader, qtip_suffix=suffix))
            layer.register_parameter(suffix, param)
        layer.qtip_plan, layer.qtip_loaded, layer.qtip_sublayers = plan, set(), None

    def weight_loader(self, layer, param, loaded_weight, loaded_shard_id=None):
        """Copy one checkpoint tensor (sub-layer loaded_shard_id's) into its slot."""
        plan, suffix = layer.qtip_plan, param.qtip_suffix
        i = shard_index(loaded_shard_id, len(plan.names), self.prefix)
        name = '%s.%s' % (plan.names[i], suffix)
        try:   # the rank's slice (tensor parallelism; the tensor itself at degree 1)
            loaded_weight = shard_loaded(plan.full_settings[i], suffix, loaded_weight, plan.rank, plan.world)
        except PackedFormatError as e:
            raise PackedFormatError('%s.%s' % (plan.names[i], e)) from None
        shape, dtype = plan.expected(suffix, i)
        if shape is None:
            raise PackedFormatError('%s: the layer\'s code reads no table' % name)
        if tuple(loaded_weight.shape) != tuple(shape) or loaded_weight.dtype != dtype:
            raise PackedFormatError('%s: %s %s in the checkpoint, the layer\'s settings give %s %s'
                                    % (name, loaded_weight.dtype, tuple(loaded_weight.shape), dtype,
                                       tuple(shape)))
        plan.slot(param.data, suffix, i).copy_(loaded_weight)
        layer.qtip_loaded.add((suffix, i))

    def process_weights_after_loading(self, layer):
        plan = layer.qtip_plan
        missing = sorted(plan.needed() - layer.qtip_loaded, key=lambda t: (t[1], t[0]))
        if missing:
            raise PackedFormatError('%s: tensors missing from the checkpoint: %s' % (
                self.prefix, ', '.join('%s.%s' % (plan.names[i], s) for s, i in missing)))
        params = {suffix: getattr(layer, suffix).data for suffix in plan.shapes()}
        # a plain list, not a ModuleList: the views are no parameters of the layer
        layer.qtip_sublayers = [
            QTIPLinear(dict(s, shape=[m, plan.n]), plan.sub_tensors(params, i), cache_decoded=CACHE_DECODED)
            for i, (s, m) in enumerate(zip(plan.settings, plan.out_sizes))]

    def apply(self, layer, x, bias=None):
        subs = layer.qtip_sublayers
        if subs is None:
            raise RuntimeError('%s: apply before process_weights_after_loading' % self.prefix)
        y = subs[0](x) if len(subs) == 1 else torch.cat([sub(x) for sub in subs], dim=-1)
        return y if bias is None else y + bias

    def dequantize_weight(self, layer):
        """The dense weight (sum of outputs x input, fp32), for vLLM's requantization."""
        return torch.cat([sub.dequantized_weight() for sub in layer.qtip_sublayers], dim=0)
