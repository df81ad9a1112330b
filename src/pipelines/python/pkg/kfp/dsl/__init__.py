"""The `kfp.dsl` names a KFP v2 component source may import (skiff's implementation).

Lightweight component sources start with `from kfp.dsl import *` and use these names in their
annotations and bodies. Pipeline-building names (If, ParallelFor, importer...) exist so that
imports and definitions succeed; they cannot build pipelines here.
"""

from kfp.dsl.python_component import (PythonComponent, component, container_component,
                                      notebook_component, pipeline)
from kfp.dsl.task_config import TaskConfig
from kfp.dsl.task_final_status import PipelineTaskFinalStatus
from kfp.dsl.types.artifact_types import (HTML, Artifact, ClassificationMetrics, Dataset,
                                          Markdown, Metrics, Model, SlicedClassificationMetrics,
                                          get_uri)
from kfp.dsl.types.type_annotations import (EmbeddedInput, Input, InputPath, Output,
                                            OutputPath)

PIPELINE_JOB_NAME_PLACEHOLDER = "{{$.pipeline_job_name}}"
PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER = "{{$.pipeline_job_resource_name}}"
PIPELINE_JOB_ID_PLACEHOLDER = "{{$.pipeline_job_uuid}}"
PIPELINE_TASK_NAME_PLACEHOLDER = "{{$.pipeline_task_name}}"
PIPELINE_TASK_ID_PLACEHOLDER = "{{$.pipeline_task_uuid}}"
PIPELINE_TASK_EXECUTOR_OUTPUT_PATH_PLACEHOLDER = "{{$.outputs.output_file}}"
PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"
PIPELINE_ROOT_PLACEHOLDER = "{{$.pipeline_root}}"
PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER = "{{$.pipeline_job_create_time_utc}}"
PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER = "{{$.pipeline_job_schedule_time_utc}}"


class _PipelineOnly:
    """A pipeline-building construct: usable as a name, not at task run time."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"kfp.dsl.{type(self).__name__} builds pipelines; skiff's kfp "
                           "package only runs components")


class ContainerSpec(_PipelineOnly):
    pass


class PipelineTask(_PipelineOnly):
    pass


class Condition(_PipelineOnly):
    pass


class If(_PipelineOnly):
    pass


class Elif(_PipelineOnly):
    pass


class Else(_PipelineOnly):
    pass


class ExitHandler(_PipelineOnly):
    pass


class ParallelFor(_PipelineOnly):
    pass


class Collected(_PipelineOnly):
    pass


class IfPresentPlaceholder(_PipelineOnly):
    pass


class ConcatPlaceholder(_PipelineOnly):
    pass


def importer(*args, **kwargs):
    raise RuntimeError("kfp.dsl.importer builds pipelines; skiff's kfp package only runs "
                       "components")


__all__ = [
    "component", "container_component", "notebook_component", "pipeline", "importer",
    "PythonComponent", "ContainerSpec", "PipelineTask", "Condition", "If", "Elif", "Else",
    "ExitHandler", "ParallelFor", "Collected", "IfPresentPlaceholder", "ConcatPlaceholder",
    "Input", "Output", "InputPath", "OutputPath", "EmbeddedInput", "PipelineTaskFinalStatus",
    "TaskConfig", "Artifact", "ClassificationMetrics", "Dataset", "HTML", "Markdown", "Metrics",
    "Model", "SlicedClassificationMetrics", "get_uri", "PIPELINE_JOB_NAME_PLACEHOLDER",
    "PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER", "PIPELINE_JOB_ID_PLACEHOLDER",
    "PIPELINE_TASK_NAME_PLACEHOLDER", "PIPELINE_TASK_ID_PLACEHOLDER",
    "PIPELINE_TASK_EXECUTOR_OUTPUT_PATH_PLACEHOLDER", "PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER",
    "PIPELINE_ROOT_PLACEHOLDER", "PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER",
    "PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER"
]
