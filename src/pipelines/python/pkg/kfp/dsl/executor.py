"""KFP's executor contract (skiff's implementation).

The orchestrator gives the component an ExecutorInput JSON:
  inputs.parameterValues{name: JSON value}
  inputs.artifacts{name: {artifacts: [{name, uri, metadata, type: {schemaTitle}}]}}
  outputs.parameters{name: {outputFile}}
  outputs.artifacts{name: {artifacts: [{name, uri, metadata, type}]}}
  outputs.outputFile (where the ExecutorOutput JSON goes)
The executor calls the component function with arguments built from the annotations and
writes an ExecutorOutput JSON: {"parameterValues": {name: value}, "artifacts": {name:
{"artifacts": [{name, uri, metadata}]}}}. A function's return value is the output "Output"; a
NamedTuple's fields are outputs of their names. skiff also writes every returned parameter to
its outputs.parameters[name].outputFile (KFP's serialisation: strings as is, numbers with
str(), booleans, lists and dicts as JSON), so either file gives the value.
"""

import inspect
import json
import os
import typing
from typing import Any, Callable, Dict, Optional

from kfp.dsl import task_config
from kfp.dsl import task_final_status
from kfp.dsl.types import artifact_types
from kfp.dsl.types import type_annotations

_PARAMETER_TYPES = (str, int, float, bool, dict, list)
_PARAMETER_TYPE_NAMES = {
    "str": str, "string": str, "text": str,
    "int": int, "integer": int,
    "float": float, "double": float,
    "bool": bool, "boolean": bool,
    "dict": dict, "jsonobject": dict, "struct": dict,
    "list": list, "jsonarray": list,
}


def _parameter_type(annotation: Any) -> Optional[type]:
    """The parameter type of an annotation (str, int, float, bool, dict, list) or None."""
    annotation = type_annotations.maybe_strip_optional_from_annotation(annotation)
    if isinstance(annotation, type) and annotation in _PARAMETER_TYPES:
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, dict):
        if origin is list and type_annotations.is_list_of_artifacts(annotation):
            return None
        return origin
    if origin is typing.Literal:
        args = typing.get_args(annotation)
        return type(args[0]) if args else str
    if isinstance(annotation, str):
        return _PARAMETER_TYPE_NAMES.get(annotation.lower())
    return None


def is_parameter(annotation: Any) -> bool:
    return _parameter_type(annotation) is not None


def is_artifact(annotation: Any) -> bool:
    return type_annotations.is_artifact_class(annotation)


def is_named_tuple(annotation: Any) -> bool:
    return (isinstance(annotation, type) and issubclass(annotation, tuple) and
            hasattr(annotation, "_fields"))


def _coerce(value: Any, want: Optional[type], name: str) -> Any:
    """Converts a JSON parameter value to the annotated type where KFP's encoding differs."""
    if want is None or value is None:
        return value
    if want is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value
    if want is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                return value
        return value
    if want is float:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value
    if want in (list, dict) and isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, want) else value
    return value


def serialize_parameter(value: Any) -> str:
    """How a parameter value is written to its output file."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    raise ValueError(f"Unable to serialize unknown type `{value}` for parameter input with "
                     f"value `{type(value)}`")


def makedirs_recursively(path: str) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)


def create_artifact_instance(runtime_artifact: Dict,
                             fallback_artifact_cls=artifact_types.Artifact):
    """The artifact object for one runtime artifact of the executor input."""
    schema_title = (runtime_artifact.get("type") or {}).get("schemaTitle", "")
    cls = artifact_types._SCHEMA_TITLE_TO_TYPE.get(schema_title)
    if cls is None or (type_annotations.is_artifact_class(fallback_artifact_cls) and
                       issubclass(fallback_artifact_cls, cls)):
        # A custom subclass the component asked for, or an unknown schema title.
        cls = fallback_artifact_cls if type_annotations.is_artifact_class(
            fallback_artifact_cls) else artifact_types.Artifact
    return cls(
        name=runtime_artifact.get("name", ""),
        uri=runtime_artifact.get("uri", ""),
        metadata=dict(runtime_artifact.get("metadata") or {}),
    )


class Executor:
    """Runs one component function against one ExecutorInput."""

    def __init__(self, executor_input: Dict, function_to_execute: Callable):
        self.func = getattr(function_to_execute, "python_func", function_to_execute)
        self.executor_input = executor_input
        outputs = executor_input.get("outputs") or {}
        self.executor_output_path = outputs.get("outputFile", "")
        if self.executor_output_path:
            artifact_types.CONTAINER_TASK_ROOT = os.path.dirname(self.executor_output_path)
        try:
            self.annotations = typing.get_type_hints(self.func, include_extras=True)
        except Exception:  # unresolvable string annotations: use them as written
            self.annotations = dict(getattr(self.func, "__annotations__", {}))
        self.return_annotation = self.annotations.get("return", inspect.Signature.empty)
        self.input_artifacts: Dict[str, Any] = {}
        self.output_artifacts: Dict[str, artifact_types.Artifact] = {}
        self.executor_output: Dict[str, Any] = {}
        self._assign_artifacts()

    # --- inputs and outputs of the executor input ---

    def _artifact_class(self, name: str) -> Any:
        annotation = type_annotations.maybe_strip_optional_from_annotation(
            self.annotations.get(name))
        annotation = type_annotations.strip_Input_or_Output_marker(annotation)
        while type_annotations.is_list_of_artifacts(annotation):
            annotation = type_annotations.get_inner_type(
                type_annotations.strip_Input_or_Output_marker(annotation))
        if isinstance(annotation, (type_annotations.InputPath, type_annotations.OutputPath)):
            title = str(annotation.type or "").split("@")[0]
            return artifact_types._SCHEMA_TITLE_TO_TYPE.get(title, artifact_types.Artifact)
        if type_annotations.is_artifact_class(annotation):
            return annotation
        return artifact_types.Artifact

    def _is_list_input(self, name: str) -> bool:
        annotation = type_annotations.maybe_strip_optional_from_annotation(
            self.annotations.get(name))
        return type_annotations.is_list_of_artifacts(annotation)

    def _assign_artifacts(self) -> None:
        inputs = (self.executor_input.get("inputs") or {}).get("artifacts") or {}
        for name, entry in inputs.items():
            runtime = (entry or {}).get("artifacts") or []
            cls = self._artifact_class(name)
            if self._is_list_input(name):
                self.input_artifacts[name] = [create_artifact_instance(a, cls) for a in runtime]
            elif runtime:
                self.input_artifacts[name] = create_artifact_instance(runtime[0], cls)
        outputs = (self.executor_input.get("outputs") or {}).get("artifacts") or {}
        for name, entry in outputs.items():
            runtime = (entry or {}).get("artifacts") or []
            if not runtime:
                continue
            artifact = create_artifact_instance(runtime[0], self._artifact_class(name))
            self.output_artifacts[name] = artifact
            if artifact.path:
                makedirs_recursively(artifact.path)

    def get_input_parameter_value(self, name: str) -> Any:
        values = (self.executor_input.get("inputs") or {}).get("parameterValues") or {}
        return values.get(name)

    def _has_input_parameter(self, name: str) -> bool:
        values = (self.executor_input.get("inputs") or {}).get("parameterValues") or {}
        return name in values

    def get_output_parameter_path(self, name: str) -> Optional[str]:
        parameter = ((self.executor_input.get("outputs") or {}).get("parameters") or {}).get(name)
        if not parameter:
            return None
        path = parameter.get("outputFile")
        if path:
            makedirs_recursively(path)
        return path

    def get_output_artifact_path(self, name: str) -> str:
        artifact = self.output_artifacts.get(name)
        if artifact is None:
            raise ValueError(f"Failed to get output artifact path for artifact name {name}")
        return artifact.path

    def get_input_artifact_path(self, name: str) -> str:
        artifact = self.input_artifacts.get(name)
        if artifact is None:
            raise ValueError(f"Failed to get input artifact path for artifact name {name}")
        return artifact.path

    # --- outputs ---

    def write_output_parameter_value(self, name: str, value: Any) -> None:
        text = serialize_parameter(value)
        self.executor_output.setdefault("parameterValues", {})[name] = value
        path = self.get_output_parameter_path(name)
        if path:
            with open(path, "w") as f:
                f.write(text)

    def write_output_artifact_payload(self, name: str, value: Any) -> None:
        path = self.get_output_artifact_path(name)
        makedirs_recursively(path)
        with open(path, "w") as f:
            f.write(str(value))

    def handle_single_return_value(self, output_name: str, annotation: Any, value: Any) -> None:
        want = _parameter_type(annotation)
        if want is not None:
            accepted = (int, float) if want is float else want
            if not isinstance(value, accepted):
                raise ValueError(f"Function `{self.func.__name__}` returned value of type "
                                 f"{type(value)}; want type {want}")
            self.write_output_parameter_value(output_name, value)
        elif is_artifact(annotation):
            if isinstance(value, artifact_types.Artifact):
                self.output_artifacts[output_name] = value
            else:
                self.write_output_artifact_payload(output_name, value)
        else:
            raise RuntimeError(f"Unknown return type: {annotation}. Must be one of the "
                               "supported data types: str, int, float, bool, dict, list, an "
                               "Artifact class, or a NamedTuple of these.")

    def write_executor_output(self, func_output: Any = None) -> Optional[str]:
        annotation = self.return_annotation
        if func_output is not None and annotation not in (inspect.Signature.empty, None,
                                                         type(None)):
            if is_named_tuple(annotation):
                fields = annotation._fields
                if len(fields) != len(func_output):
                    raise RuntimeError(f"Expected {len(fields)} return values from function "
                                       f"`{self.func.__name__}`, got {len(func_output)}")
                field_types = typing.get_type_hints(annotation, include_extras=True)
                for i, field in enumerate(fields):
                    value = func_output[i] if type(func_output) is tuple else getattr(
                        func_output, field)
                    self.handle_single_return_value(field, field_types.get(field), value)
            else:
                self.handle_single_return_value("Output", annotation, func_output)

        if self.output_artifacts:
            artifacts = {}
            for name, artifact in self.output_artifacts.items():
                runtime = {"name": artifact.name, "uri": artifact.uri,
                           "metadata": artifact.metadata}
                if getattr(artifact, "custom_path", None):
                    runtime["custom_path"] = artifact.custom_path
                artifacts[name] = {"artifacts": [runtime]}
            self.executor_output["artifacts"] = artifacts

        if not self.executor_output_path:
            return None
        makedirs_recursively(self.executor_output_path)
        with open(self.executor_output_path, "w") as f:
            json.dump(self.executor_output, f)
        return self.executor_output_path

    # --- the call ---

    def _argument(self, name: str, annotation: Any):
        """(True, value) for an argument to pass, (False, None) to leave the default."""
        annotation = type_annotations.maybe_strip_optional_from_annotation(annotation)
        if annotation is task_final_status.PipelineTaskFinalStatus:
            value = self.get_input_parameter_value(name) or {}
            error = value.get("error") or {}
            return True, task_final_status.PipelineTaskFinalStatus(
                state=value.get("state"),
                pipeline_job_resource_name=value.get("pipelineJobResourceName",
                                                     value.get("pipeline_job_resource_name")),
                pipeline_task_name=value.get("pipelineTaskName",
                                             value.get("pipeline_task_name")),
                error_code=error.get("code"),
                error_message=error.get("message"),
            )
        if annotation is task_config.TaskConfig:
            value = self.get_input_parameter_value(name) or {}
            return True, task_config.TaskConfig(
                affinity=value.get("affinity"), tolerations=value.get("tolerations"),
                node_selector=value.get("nodeSelector"), env=value.get("env"),
                volumes=value.get("volumes"), volume_mounts=value.get("volumeMounts"),
                resources=value.get("resources"))
        if type_annotations.is_artifact_wrapped_in_Output(annotation):
            if name in self.output_artifacts:
                return True, self.output_artifacts[name]
            return False, None
        if (type_annotations.is_artifact_wrapped_in_Input(annotation) or
                type_annotations.is_list_of_artifacts(annotation) or is_artifact(annotation)):
            if name in self.input_artifacts:
                return True, self.input_artifacts[name]
            return False, None
        if isinstance(annotation, type_annotations.OutputPath):
            if name in self.output_artifacts:
                return True, self.output_artifacts[name].path
            return True, self.get_output_parameter_path(name)
        if isinstance(annotation, type_annotations.InputPath):
            if name in self.input_artifacts:
                return True, self.get_input_artifact_path(name)
            if self._has_input_parameter(name):  # a parameter passed as a file
                path = os.path.join(artifact_types.CONTAINER_TASK_ROOT or "/tmp",
                                    "inputs", name)
                makedirs_recursively(path)
                with open(path, "w") as f:
                    f.write(serialize_parameter(self.get_input_parameter_value(name)))
                return True, path
            return False, None
        if self._has_input_parameter(name):
            value = self.get_input_parameter_value(name)
            if value is None:
                return False, None
            return True, _coerce(value, _parameter_type(annotation), name)
        return False, None

    def execute(self) -> Optional[str]:
        kwargs = {}
        for name in inspect.signature(self.func).parameters:
            if name not in self.annotations:
                if self._has_input_parameter(name):
                    kwargs[name] = self.get_input_parameter_value(name)
                continue
            present, value = self._argument(name, self.annotations[name])
            if present:
                kwargs[name] = value
        result = self.func(**kwargs)
        return self.write_executor_output(result)
