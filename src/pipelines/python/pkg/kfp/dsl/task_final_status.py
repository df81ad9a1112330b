"""PipelineTaskFinalStatus: what an exit-handler task learns about the tasks it guards."""

from typing import Optional


class PipelineTaskFinalStatus:
    """As KFP's dataclass (a plain class here: dataclasses would slow every task's start)."""

    def __init__(self, state: str, pipeline_job_resource_name: str, pipeline_task_name: str,
                 error_code: Optional[int], error_message: Optional[str]):
        self.state = state
        self.pipeline_job_resource_name = pipeline_job_resource_name
        self.pipeline_task_name = pipeline_task_name
        self.error_code = error_code
        self.error_message = error_message

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"PipelineTaskFinalStatus({fields})"
