# For benchmarks only: effi's QDQ file plus a QuantizeLinear->DequantizeLinear pair (u8, one
# arbitrary scale, so the outputs are NOT meaningful) on the output of every Conv/Gemm/MatMul, the
# layout ONNX Runtime's quantize_static writes and the one its QDQ fusion needs (a Conv is fused
# into QLinearConv only when a QuantizeLinear consumes its output). With it ONNX Runtime runs all
# 41 of L1's layers in int8 (33 QLinearConv, 6 QLinearMatMul, 2 QGemm) instead of 5: the speed
# baseline the README's int8 rows compare against.
# Usage: /usr/bin/python3 bench/qdq_add_output_q.py IN.qdq.onnx OUT.onnx
import sys, onnx
from onnx import helper, TensorProto
m = onnx.load(sys.argv[1]); g = m.graph
g.initializer.extend([helper.make_tensor('xq_s', TensorProto.FLOAT, [], [0.05]),
                      helper.make_tensor('xq_z', TensorProto.UINT8, [], [128])])
new = []
for n in g.node:
    new.append(n)
    if n.op_type in ('Conv', 'Gemm', 'MatMul'):
        o = n.output[0]; raw = o + '_raw'
        n.output[0] = raw
        new.append(helper.make_node('QuantizeLinear', [raw, 'xq_s', 'xq_z'], [o + '_q'], name=n.name + '_outQ'))
        new.append(helper.make_node('DequantizeLinear', [o + '_q', 'xq_s', 'xq_z'], [o], name=n.name + '_outDQ'))
del g.node[:]; g.node.extend(new)
onnx.save(m, sys.argv[2])
