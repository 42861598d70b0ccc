/* qtip_quant.h — BlockLDLQ and one-layer quantization (owned by the quantizer work). */
#ifndef QTIP_QUANT_H
#define QTIP_QUANT_H
#endif
