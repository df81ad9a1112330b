# Skiff's Python model worker, run by the "python" serving runtime as
#   /usr/bin/python3 -X faulthandler - CONFIG_JSON
# with this script on stdin (stdin is at EOF once the script has been read). It loads one
# model, then answers inference requests one at a time over file descriptor 3 (a Unix socket)
# until that closes, which is also how it notices that skiff has gone away.
#
# Frames, both ways (documented in python_protocol.hpp): b"SKW1", u32 LE header length H,
# u64 LE payload length P, H bytes of UTF-8 JSON, P bytes of payload. Tensors travel as
# descriptors {"name", "datatype", "shape", "offset", "length"} in the JSON, with their bytes
# (little-endian, row-major; BYTES elements as u32 LE length + bytes) in the payload.
#
# Sent by the worker: first {"type": "ready", ...metadata} or {"type": "error", "code",
# "error"}; then for each {"type": "infer"} request one {"type": "result", "outputs": [...]}
# or {"type": "error", "code", "error"}. stdout is redirected to stderr, which skiff logs.

import inspect
import json
import os
import pickle
import struct
import sys
import traceback
import types

import numpy as np

MAGIC = b"SKW1"
CHANNEL = 3

DTYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}
NAMES = {np.dtype(v).str.lstrip("<>|="): k for k, v in DTYPES.items()}

INVALID_INPUT_ERRORS = (ValueError, TypeError, KeyError, IndexError)


class WorkerError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# --- framing ---------------------------------------------------------------------------------

def read_exact(n):
    """n bytes as a bytearray (so numpy arrays over it are writable), or None at EOF."""
    buf = bytearray(n)
    view, pos = memoryview(buf), 0
    while pos < n:
        got = os.readv(CHANNEL, [view[pos:]])
        if not got:
            return None
        pos += got
    return buf


def read_frame():
    prefix = read_exact(16)
    if prefix is None:
        return None, None
    if prefix[:4] != MAGIC:
        raise SystemExit("skiff python worker: bad frame magic %r" % prefix[:4])
    hlen, plen = struct.unpack("<IQ", prefix[4:])
    header = read_exact(hlen)
    payload = read_exact(plen) if plen else bytearray()
    if header is None or payload is None:
        return None, None
    return json.loads(header.decode("utf-8")), payload


def write_frame(header, payload=b""):
    try:
        text = json.dumps(header, allow_nan=False, default=_json_default)
    except ValueError:  # NaN or Infinity, which JSON cannot carry: null, as skiff writes them
        text = json.dumps(_finite(header), allow_nan=False, default=_json_default)
    h = text.encode("utf-8")
    data = MAGIC + struct.pack("<IQ", len(h), len(payload)) + h
    if len(payload) < (1 << 16):
        write_all(memoryview(data + payload))
    else:
        write_all(memoryview(data))
        write_all(memoryview(payload))


def write_all(view):
    while len(view):
        n = os.write(CHANNEL, view)
        view = view[n:]


# --- tensors ---------------------------------------------------------------------------------

def decode_tensor(desc, payload):
    shape = [int(d) for d in desc["shape"]]
    start, length = int(desc["offset"]), int(desc["length"])
    raw = memoryview(payload)[start:start + length]
    dt = desc["datatype"]
    if dt == "BYTES":
        items, pos = [], 0
        while pos < len(raw):
            (n,) = struct.unpack_from("<I", raw, pos)
            b = bytes(raw[pos + 4:pos + 4 + n])
            pos += 4 + n
            try:
                items.append(b.decode("utf-8"))
            except UnicodeDecodeError:
                items.append(b)
        arr = np.empty(len(items), dtype=object)
        arr[:] = items
        return arr.reshape(shape)
    if dt not in DTYPES:
        raise WorkerError("INVALID_ARGUMENT", "unsupported datatype %s" % dt)
    return np.frombuffer(raw, dtype=np.dtype(DTYPES[dt]).newbyteorder("<")).reshape(shape)


def to_array(value):
    """A model's result as a numpy array that a tensor can carry."""
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        flat = arr.ravel()
        if all(isinstance(x, (str, bytes)) for x in flat):
            return arr
        try:
            return arr.astype(np.float64)
        except (TypeError, ValueError):
            raise WorkerError("INTERNAL", "the model returned objects that are neither numbers "
                              "nor strings")
    return arr


def encode_tensor(name, value, descs, chunks, offset, parameters=None):
    arr = to_array(value)
    kind = arr.dtype.kind
    if kind in "USO":
        parts = []
        for x in arr.ravel():
            b = x if isinstance(x, bytes) else str(x).encode("utf-8")
            parts.append(struct.pack("<I", len(b)) + b)
        data, dt = b"".join(parts), "BYTES"
    else:
        if kind == "b":
            arr = arr.astype(np.bool_)
        elif kind not in "iuf":
            arr = arr.astype(np.float64)
        key = arr.dtype.str.lstrip("<>|=")
        if key not in NAMES:
            arr, key = arr.astype(np.float64), "f8"
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        data, dt = arr.tobytes(), NAMES[key]
    pad = (-offset) % 8
    if pad:
        chunks.append(b"\0" * pad)
        offset += pad
    desc = {"name": name, "datatype": dt, "shape": list(arr.shape), "offset": offset,
            "length": len(data)}
    if parameters:
        desc["parameters"] = parameters
    descs.append(desc)
    chunks.append(data)
    return offset + len(data)


def json_predictions(name, predictions, descs, chunks, offset):
    """Predictions that are not a rectangular array of numbers or strings (dicts, ragged lists):
    one BYTES element of JSON text per prediction, marked content_type=json."""
    items = predictions if isinstance(predictions, (list, tuple)) else [predictions]
    texts = np.empty(len(items), dtype=object)
    texts[:] = [json.dumps(p, default=_json_default) for p in items]
    return encode_tensor(name, texts, descs, chunks, offset, {"content_type": "json"})


def _finite(x):
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, (np.ndarray, np.generic)):
        return _finite(x.tolist())
    return x


def _json_default(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


# --- a small kserve stand-in, so that model.py files written for KServe import ---------------

def install_kserve_shim():
    try:
        import kserve  # noqa: F401
        return
    except ImportError:
        pass

    class Model:
        def __init__(self, name, *args, **kwargs):
            self.name = name
            self.ready = False

        def load(self):
            self.ready = True
            return self.ready

        def preprocess(self, payload, headers=None):
            return payload

        def postprocess(self, result, headers=None):
            return result

        def predict(self, payload, headers=None):
            raise NotImplementedError

    class InvalidInput(ValueError):
        pass

    class InferenceError(RuntimeError):
        pass

    class ModelMissingError(FileNotFoundError):
        pass

    class ModelServer:
        def __init__(self, *args, **kwargs):
            pass

        def start(self, models, *args, **kwargs):
            pass

    kserve = types.ModuleType("kserve")
    errors = types.ModuleType("kserve.errors")
    errors.InvalidInput, errors.InferenceError = InvalidInput, InferenceError
    errors.ModelMissingError = ModelMissingError
    kserve.Model, kserve.ModelServer, kserve.errors = Model, ModelServer, errors
    kserve.InferRequest, kserve.InferInput = InferRequest, InferInput
    kserve.InferResponse, kserve.InferOutput = InferResponse, InferOutput
    sys.modules["kserve"], sys.modules["kserve.errors"] = kserve, errors
    kfserving = types.ModuleType("kfserving")
    kfserving.KFModel, kfserving.KFServer = Model, ModelServer
    sys.modules.setdefault("kfserving", kfserving)


class InferInput:
    """KServe's V2 input shape: name, shape, datatype, data (flat list), as_numpy()."""

    def __init__(self, name, shape, datatype, data=None, parameters=None):
        self.name, self.shape, self.datatype = name, list(shape), datatype
        self.parameters = parameters or {}
        self._array = None if data is None else np.asarray(data).reshape(shape)

    @property
    def data(self):
        return self._array.ravel().tolist()

    def as_numpy(self):
        return self._array

    def set_numpy(self, array, binary_data=True):
        self._array = np.asarray(array)
        self.shape = list(self._array.shape)


class InferOutput(InferInput):
    pass


class InferRequest:
    def __init__(self, model_name, infer_inputs, request_id=None, parameters=None):
        self.model_name, self.inputs, self.id = model_name, infer_inputs, request_id
        self.parameters = parameters or {}


class InferResponse:
    def __init__(self, response_id, model_name, infer_outputs, parameters=None, **kwargs):
        self.id, self.model_name, self.outputs = response_id, model_name, infer_outputs
        self.parameters = parameters or {}


# --- models ----------------------------------------------------------------------------------

def call(fn, *args):
    result = fn(*args)
    if inspect.isawaitable(result):
        import asyncio
        result = asyncio.run(_await(result))
    return result


async def _await(x):
    return await x


def accepts_headers(fn):
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return True
    return len(params) >= 2


def find_file(path, names, extensions, what, hint):
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise WorkerError("NOT_FOUND", "model path %s does not exist: check storageUri" % path)
    for n in names:
        if os.path.isfile(os.path.join(path, n)):
            return os.path.join(path, n)
    found = sorted(f for f in os.listdir(path)
                   if f.endswith(extensions) and os.path.isfile(os.path.join(path, f)))
    if len(found) == 1:
        return os.path.join(path, found[0])
    if len(found) > 1:
        raise WorkerError("FAILED_PRECONDITION", "more than one %s in %s (%s): keep exactly one"
                          % (what, path, ", ".join(found)))
    raise WorkerError("NOT_FOUND", "no %s in %s: looked for %s; %s"
                      % (what, path, ", ".join(names), hint))


def dtype_name(dtype):
    if dtype.kind in "USO":
        return "BYTES"
    return NAMES.get(dtype.str.lstrip("<>|="), "FP64")


class SklearnModel:
    def __init__(self, config):
        self.name = config["model_name"]
        path = find_file(config["model_dir"], ["model.joblib", "model.pkl", "model.pickle"],
                         (".joblib", ".pkl", ".pickle"), "scikit-learn model",
                         "save it with joblib.dump(model, \"model.joblib\") or fix storageUri")
        try:
            if path.endswith(".joblib"):
                import joblib
                self.model = joblib.load(path)
            else:
                with open(path, "rb") as f:
                    self.model = pickle.load(f)
        except Exception as e:
            raise WorkerError("FAILED_PRECONDITION", "cannot load %s: %s: %s"
                              % (path, type(e).__name__, e))
        if not hasattr(self.model, "predict"):
            raise WorkerError("FAILED_PRECONDITION", "%s holds a %s, which has no predict()"
                              % (path, type(self.model).__name__))
        self.path = path

    def metadata(self):
        m = self.model
        proba = predict_proba_enabled() and hasattr(m, "predict_proba")
        n = getattr(m, "n_features_in_", None)
        classes = getattr(m, "classes_", None)
        out_shape, out_type = [-1], "FP64"
        if proba:
            out_shape = [-1, len(classes)] if classes is not None else [-1, -1]
        elif classes is not None:
            out_type = dtype_name(np.asarray(classes).dtype)
        return {"estimator": type(m).__module__ + "." + type(m).__name__, "file": self.path,
                "predict_proba": proba,
                "inputs": [{"name": "input-0", "datatype": "FP64",
                            "shape": [-1, int(n)] if n is not None else [-1, -1]}],
                "outputs": [{"name": "output-0", "datatype": out_type, "shape": out_shape}]}

    def infer(self, header, inputs):
        x = features(inputs)
        try:
            if predict_proba_enabled() and hasattr(self.model, "predict_proba"):
                result = self.model.predict_proba(x)
            else:
                result = self.model.predict(x)
        except INVALID_INPUT_ERRORS as e:
            raise WorkerError("INVALID_ARGUMENT", "%s: %s" % (type(e).__name__, e))
        return [("output-0", result)], None


def predict_proba_enabled():
    return os.environ.get("PREDICT_PROBA", "false").lower() == "true"


def features(inputs):
    """KServe's get_predict_input: one input as an array; several as columns."""
    if len(inputs) == 1:
        return inputs[0][1]
    try:
        import pandas as pd
        return pd.DataFrame({name: a.ravel() if a.ndim > 1 and a.shape[1] == 1 else a
                             for name, a in inputs})
    except ImportError:
        return np.column_stack([a for _, a in inputs])


class CustomModel:
    def __init__(self, config):
        self.name = config["model_name"]
        self.protocol = config.get("protocol") or "v1"
        path = find_file(config["model_dir"], ["model.py"], (".py",), "custom predictor",
                         "put a model.py defining a class with load() and predict(payload, "
                         "headers) there")
        directory = os.path.dirname(os.path.abspath(path))
        sys.path.insert(0, directory)
        install_kserve_shim()
        module = types.ModuleType(os.path.splitext(os.path.basename(path))[0])
        module.__file__ = path
        sys.modules[module.__name__] = module
        with open(path) as f:
            source = f.read()
        exec(compile(source, path, "exec"), module.__dict__)
        cls = self.pick_class(module, config.get("class_name"), path)
        try:
            takes_name = len([p for p in inspect.signature(cls).parameters.values()
                              if p.default is p.empty and p.kind in
                              (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 1
        except (TypeError, ValueError):
            takes_name = True
        self.obj = cls(self.name) if takes_name else cls()
        if hasattr(self.obj, "load"):
            if call(self.obj.load) is False and not getattr(self.obj, "ready", True):
                raise WorkerError("FAILED_PRECONDITION", "%s.load() returned False" % cls.__name__)
        self.cls = cls
        self.path = path

    @staticmethod
    def pick_class(module, wanted, path):
        classes = [v for v in vars(module).values() if isinstance(v, type)
                   and v.__module__ == module.__name__ and callable(getattr(v, "predict", None))]
        if wanted:
            for c in classes:
                if c.__name__ == wanted:
                    return c
            raise WorkerError("FAILED_PRECONDITION", "%s defines no class %s with predict()"
                              % (path, wanted))
        if len(classes) == 1:
            return classes[0]
        if not classes:
            raise WorkerError("FAILED_PRECONDITION", "%s defines no class with a predict() method "
                              "(KServe's Model shape: __init__(name), load(), predict(payload, "
                              "headers=None))" % path)
        raise WorkerError("FAILED_PRECONDITION", "%s defines several predictor classes (%s): set "
                          "SKIFF_MODEL_CLASS in the predictor's env to pick one"
                          % (path, ", ".join(c.__name__ for c in classes)))

    def metadata(self):
        return {"class": self.cls.__name__, "file": self.path, "inputs": [], "outputs": []}

    def infer(self, header, inputs):
        if self.protocol == "v2":
            payload = InferRequest(self.name, [InferInput(n, a.shape, header_dtype(header, n), a)
                                               for n, a in inputs],
                                   header.get("id"), header.get("parameters") or {})
        else:
            # The V1 body's other top-level fields arrive as request parameters.
            payload = dict(header.get("parameters") or {})
            if len(inputs) == 1:
                payload["instances"] = inputs[0][1].tolist()
            else:
                payload["inputs"] = [{"name": n, "shape": list(a.shape), "data": a.tolist()}
                                     for n, a in inputs]
        obj, headers = self.obj, {}
        for step in ("preprocess", "predict", "postprocess"):
            fn = getattr(obj, step, None)
            if fn is None:
                continue
            payload = call(fn, payload, headers) if accepts_headers(fn) else call(fn, payload)
        return self.outputs(payload)

    def outputs(self, result):
        if not isinstance(result, dict) and hasattr(result, "outputs"):
            result = {"outputs": result.outputs, "parameters": getattr(result, "parameters", None)}
        if isinstance(result, dict) and "outputs" in result:
            outs = []
            for o in result["outputs"]:
                if isinstance(o, dict):
                    a = np.asarray(o["data"])
                    if o.get("shape") is not None:
                        a = a.reshape(o["shape"])
                    outs.append((o.get("name", "output-%d" % len(outs)), a))
                else:
                    outs.append((o.name, o.as_numpy()))
            return outs, result.get("parameters")
        if isinstance(result, dict):
            if "predictions" not in result:
                raise WorkerError("INTERNAL", "predict() returned a dict without \"predictions\" "
                                  "or \"outputs\" (keys: %s)" % ", ".join(map(str, result)))
            result = result["predictions"]
        return [("output-0", result)], None


def header_dtype(header, name):
    for d in header.get("inputs", []):
        if d.get("name") == name:
            return d.get("datatype")
    return "FP64"


# --- main loop -------------------------------------------------------------------------------

def error_reply(e):
    if isinstance(e, WorkerError):
        return {"type": "error", "code": e.code, "error": str(e)}
    code = "INVALID_ARGUMENT" if isinstance(e, INVALID_INPUT_ERRORS) else "INTERNAL"
    if type(e).__name__ == "InvalidInput":
        code = "INVALID_ARGUMENT"
    return {"type": "error", "code": code, "error": "%s: %s" % (type(e).__name__, e)}


def serve(model):
    while True:
        header, payload = read_frame()
        if header is None:
            return
        if header.get("type") != "infer":
            write_frame({"type": "error", "code": "INTERNAL",
                         "error": "unknown request type %r" % header.get("type")})
            continue
        try:
            inputs = [(d["name"], decode_tensor(d, payload)) for d in header.get("inputs", [])]
            outputs, parameters = model.infer(header, inputs)
            descs, chunks, offset = [], [], 0
            for name, value in outputs:
                try:
                    offset = encode_tensor(name, value, descs, chunks, offset)
                except (WorkerError, ValueError, TypeError):
                    offset = json_predictions(name, value, descs, chunks, offset)
            reply = {"type": "result", "outputs": descs}
            if parameters:
                reply["parameters"] = parameters
            write_frame(reply, b"".join(chunks))
        except Exception as e:  # the request fails, the worker goes on
            if not isinstance(e, WorkerError):
                traceback.print_exc()
            write_frame(error_reply(e))


def main():
    config = json.loads(sys.argv[1])
    # print() in a model must not corrupt anything: stdout is already skiff's log pipe.
    try:
        model = (CustomModel if config["kind"] == "custom" else SklearnModel)(config)
        meta = model.metadata()
    except Exception as e:
        if not isinstance(e, WorkerError):
            traceback.print_exc()
        reply = error_reply(e)
        if not isinstance(e, WorkerError):
            reply["code"] = "FAILED_PRECONDITION"
        write_frame(reply)
        sys.exit(1)
    meta.update({"type": "ready", "pid": os.getpid(), "python": sys.version.split()[0]})
    write_frame(meta)
    serve(model)


main()
