"""ONNX models that misbehave on purpose (built with ``onnx``, no files shipped): one that
allocates without bound and one that never ends, for the sandbox's limits, and one that
crashes the installed onnxruntime when a session is created."""

from __future__ import annotations

from typing import Any

import numpy as np


def _wrap(nodes: list[Any], inits: list[Any], name: str) -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("tiles", TensorProto.FLOAT, ["N", 4, 32, 32])],
        [helper.make_tensor_value_info("cloud_prob", TensorProto.FLOAT, ["N"])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    blob: bytes = model.SerializeToString()
    return blob


def _counting_loop_body() -> Any:
    """A Loop body that adds one to its carried float each trip."""
    from onnx import TensorProto, helper, numpy_helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["x_in", "one"], ["x_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [])],
        initializer=[numpy_helper.from_array(np.array(1.0, np.float32), "one")])
    return body


def memory_hog() -> bytes:
    """Its dry run asks for a 6.4 GB tensor (ConstantOfShape 40000 x 40000 float32)."""
    from onnx import helper, numpy_helper

    return _wrap([
        helper.make_node("ConstantOfShape", ["shape"], ["big"],
                         value=numpy_helper.from_array(np.array([1.0], np.float32))),
        helper.make_node("ReduceMean", ["big"], ["big_mean"], keepdims=0),
        helper.make_node("ReduceMean", ["tiles"], ["tile_mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Add", ["tile_mean", "big_mean"], ["cloud_prob"]),
    ], [numpy_helper.from_array(np.array([40_000, 40_000], np.int64), "shape")], "hog")


def never_ends() -> bytes:
    """A Loop of 10**15 iterations: its dry run spins until something stops it."""
    from onnx import helper, numpy_helper

    body = _counting_loop_body()
    return _wrap([
        helper.make_node("Loop", ["trips", "go", "zero"], ["count"], body=body),
        helper.make_node("ReduceMean", ["tiles"], ["tile_mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["tile_mean", "count"], ["cloud_prob"]),
    ], [numpy_helper.from_array(np.array(10**15, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "go"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero")], "hang")


def wrong_input() -> bytes:
    """A valid model for 3-band 16x16 tiles: loads, but not for this camera."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1, 2, 3], keepdims=0)], "wrong",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    blob: bytes = model.SerializeToString()
    return blob


def slow_on_bright(loops_per_unit: float = 1e9) -> bytes:
    """A valid classifier whose inference loops ``loops_per_unit`` times the brightest
    pixel: instant on dark input (its dry run: zeros), practically endless on a real
    capture, until something interrupts it (a cancel: ``RunOptions.terminate``)."""
    from onnx import TensorProto, helper, numpy_helper

    body = _counting_loop_body()
    return _wrap([
        helper.make_node("ReduceMax", ["tiles"], ["peak"], keepdims=0),
        helper.make_node("Mul", ["peak", "scale"], ["trips_f"]),
        helper.make_node("Cast", ["trips_f"], ["trips"], to=TensorProto.INT64),
        helper.make_node("Loop", ["trips", "go", "zero"], ["count"], body=body),
        helper.make_node("Mul", ["count", "zero"], ["nothing"]),
        helper.make_node("ReduceMean", ["tiles"], ["tile_mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Add", ["tile_mean", "nothing"], ["shifted"]),
        helper.make_node("Sigmoid", ["shifted"], ["cloud_prob"]),
    ], [numpy_helper.from_array(np.array(loops_per_unit, np.float32), "scale"),
        numpy_helper.from_array(np.array(True), "go"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero")], "slow")


def aborts_onnxruntime_on_load() -> bytes:
    """A camera-shaped model that kills onnxruntime at session creation, for real.

    A Split (opset 18+) with ``num_outputs=1`` but two outputs, on the static band axis:
    ONNX's Split shape inference indexes its split-size vector by output number without
    a bounds check (onnx/onnx#8255, #8275: "Out-of-Bounds Read in Split operator"), and
    the onnxruntime 1.31.1 wheel is built with libstdc++ assertions, so
    ``std::vector::operator[]`` aborts the process (SIGABRT) inside
    ``InferenceSession(...)``: no Python exception, no dry run reached. Found by trying
    candidates in forked children (recursive functions, malformed initializers, bad
    attributes, huge shapes, contrib ops, 3,000 protobuf and 1,500 ORT-format mutations
    of the shipped model: all raised or ran; this one aborts)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Split", ["tiles"], ["bands", "spare"], axis=1, num_outputs=1),
         helper.make_node("ReduceMean", ["bands", "axes"], ["mean"], keepdims=0),
         helper.make_node("Sigmoid", ["mean"], ["cloud_prob"])], "split_abort",
        [helper.make_tensor_value_info("tiles", TensorProto.FLOAT, ["N", 4, 32, 32])],
        [helper.make_tensor_value_info("cloud_prob", TensorProto.FLOAT, ["N"])],
        initializer=[numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    blob: bytes = model.SerializeToString()
    return blob
