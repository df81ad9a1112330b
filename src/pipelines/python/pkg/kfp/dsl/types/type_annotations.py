"""Input/Output markers and InputPath/OutputPath, as KFP v2 spells them (skiff's version).

`Input[Dataset]` is `typing.Annotated[Dataset, InputAnnotation]`, as in KFP, so annotations
written for KFP evaluate the same way here.
"""

import typing
from typing import Any, Optional, TypeVar, Union

from kfp.dsl.types import artifact_types


class InputAnnotation:
    """Marks an artifact argument as an input."""


class OutputAnnotation:
    """Marks an artifact argument as an output."""


T = TypeVar("T")
Input = typing.Annotated[T, InputAnnotation]
Output = typing.Annotated[T, OutputAnnotation]


class InputPath:
    """An input the component reads from a local file (an artifact's path)."""

    def __init__(self, type=None):
        self.type = type

    def __eq__(self, other):
        return isinstance(other, InputPath) and self.type == other.type

    def __hash__(self):
        return hash((InputPath, str(self.type)))

    def __repr__(self):
        return f"InputPath({self.type!r})"


class OutputPath:
    """An output the component writes to a local file (a parameter's or artifact's path)."""

    def __init__(self, type=None):
        self.type = type

    def __eq__(self, other):
        return isinstance(other, OutputPath) and self.type == other.type

    def __hash__(self):
        return hash((OutputPath, str(self.type)))

    def __repr__(self):
        return f"OutputPath({self.type!r})"


class EmbeddedInput:
    """KFP's runtime-only embedded asset marker (skiff does not embed assets)."""

    def __class_getitem__(cls, item):
        return typing.Annotated[item, EmbeddedInput]


def maybe_strip_optional_from_annotation(annotation: Any) -> Any:
    """Optional[X] (Union[X, None]) -> X; anything else unchanged."""
    if typing.get_origin(annotation) is Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _marker(annotation: Any) -> Optional[type]:
    if typing.get_origin(annotation) is typing.Annotated:
        for extra in annotation.__metadata__:
            if extra in (InputAnnotation, OutputAnnotation, EmbeddedInput):
                return extra
    return None


def is_artifact_wrapped_in_Input(annotation: Any) -> bool:
    return _marker(annotation) is InputAnnotation


def is_artifact_wrapped_in_Output(annotation: Any) -> bool:
    return _marker(annotation) is OutputAnnotation


def is_Input_Output_artifact_annotation(annotation: Any) -> bool:
    return _marker(annotation) in (InputAnnotation, OutputAnnotation)


def is_embedded_input_annotation(annotation: Any) -> bool:
    return _marker(annotation) is EmbeddedInput


def strip_Input_or_Output_marker(annotation: Any) -> Any:
    if _marker(annotation) is not None:
        return annotation.__origin__
    return annotation


def is_artifact_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, artifact_types.Artifact)


def issubclass_of_artifact(obj: Any) -> bool:
    return is_artifact_class(obj)


def get_inner_type(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    return args[0] if args else None


def is_list_of_artifacts(annotation: Any) -> bool:
    """List[Dataset], list[Model], Input[List[Artifact]]..."""
    annotation = strip_Input_or_Output_marker(annotation)
    if typing.get_origin(annotation) is not list:
        return False
    inner = get_inner_type(annotation)
    return is_artifact_class(inner) or is_list_of_artifacts(inner)
