"""Artifact classes as KFP v2 components see them (skiff's implementation).

An artifact has a name, a URI (where skiff stores it) and metadata. Inside a task its files
are at a local path derived from the URI, the same rule as skiff's C++ ArtifactLocalPath: a
URI "SCHEME://REST" is at "/tmp/skiff/artifacts/" + REST (leading slashes removed, "." and
".." segments resolved without leaving that directory); any other URI is its own path.
"""

import os
from typing import Dict, List, Optional

LOCAL_ROOT = "/tmp/skiff/artifacts"


def local_path_for_uri(uri: str) -> str:
    """The task-local path of an artifact stored at `uri`."""
    if not uri:
        return ""
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme:
        return uri
    parts: List[str] = []
    for segment in rest.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return LOCAL_ROOT + "/" + "/".join(parts) if parts else LOCAL_ROOT


def uri_for_local_path(path: str, like_uri: str = "") -> str:
    """Inverse of local_path_for_uri, keeping the scheme of `like_uri` (default file)."""
    prefix = LOCAL_ROOT + "/"
    if not path.startswith(prefix):
        return path
    scheme = like_uri.partition("://")[0] if "://" in like_uri else "file"
    rest = path[len(prefix):]
    return f"{scheme}:///{rest}" if scheme == "file" else f"{scheme}://{rest}"


class Artifact:
    """A generic artifact: name, uri, metadata; `.path` is where its files are in the task."""

    schema_title = "system.Artifact"
    schema_version = "0.0.1"

    def __init__(self, name: Optional[str] = None, uri: Optional[str] = None,
                 metadata: Optional[Dict] = None) -> None:
        self.uri = uri or ""
        self.name = name or ""
        self.metadata = metadata or {}
        self.custom_path = None

    @property
    def path(self) -> str:
        return self._get_path()

    @path.setter
    def path(self, path: str) -> None:
        self._set_path(path)

    def _get_path(self) -> str:
        return local_path_for_uri(self.uri)

    def _set_path(self, path: str) -> None:
        self.uri = uri_for_local_path(path, self.uri)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r}, "
                f"metadata={self.metadata!r})")


class Model(Artifact):
    schema_title = "system.Model"

    @property
    def framework(self) -> str:
        return self.metadata.get("framework", "")

    @framework.setter
    def framework(self, framework: str) -> None:
        self.metadata["framework"] = framework


class Dataset(Artifact):
    schema_title = "system.Dataset"


class Metrics(Artifact):
    """Scalar metrics, kept in the artifact's metadata."""

    schema_title = "system.Metrics"

    def log_metric(self, metric: str, value: float) -> None:
        self.metadata[metric] = value


class ClassificationMetrics(Artifact):
    """ROC curve and confusion matrix, kept in metadata in KFP's schema."""

    schema_title = "system.ClassificationMetrics"

    def log_roc_data_point(self, fpr: float, tpr: float, threshold: float) -> None:
        self.metadata.setdefault("confidenceMetrics", []).append({
            "confidenceThreshold": threshold,
            "recall": tpr,
            "falsePositiveRate": fpr,
        })

    def log_roc_curve(self, fpr: List[float], tpr: List[float], threshold: List[float]) -> None:
        if not len(fpr) == len(tpr) == len(threshold):
            raise ValueError(
                f"Length of fpr, tpr and threshold must be the same. Got lengths {len(fpr)}, "
                f"{len(tpr)} and {len(threshold)} respectively.")
        for f, t, th in zip(fpr, tpr, threshold):
            self.log_roc_data_point(fpr=f, tpr=t, threshold=th)

    def set_confusion_matrix_categories(self, categories: List[str]) -> None:
        self._categories = list(categories)
        self._matrix = [{"row": [0] * len(self._categories)} for _ in self._categories]
        self._confusion_matrix = {
            "annotationSpecs": [{"displayName": c} for c in self._categories],
            "rows": self._matrix,
        }
        self.metadata["confusionMatrix"] = self._confusion_matrix

    def _check_category(self, category: str) -> None:
        if category not in getattr(self, "_categories", []):
            raise ValueError(f"Invalid category: {category} passed. Expected one of: "
                             f"{getattr(self, '_categories', [])}")

    def log_confusion_matrix_row(self, row_category: str, row: List[float]) -> None:
        self._check_category(row_category)
        if len(row) != len(self._categories):
            raise ValueError(f"Invalid row. Expected size: {len(self._categories)} got: {len(row)}")
        self._matrix[self._categories.index(row_category)] = {"row": list(row)}
        self._confusion_matrix["rows"] = self._matrix
        self.metadata["confusionMatrix"] = self._confusion_matrix

    def log_confusion_matrix_cell(self, row_category: str, col_category: str, value: int) -> None:
        self._check_category(row_category)
        self._check_category(col_category)
        row = self._matrix[self._categories.index(row_category)]["row"]
        row[self._categories.index(col_category)] = value
        self.metadata["confusionMatrix"] = self._confusion_matrix

    def log_confusion_matrix(self, categories: List[str], matrix: List[List[int]]) -> None:
        self.set_confusion_matrix_categories(categories)
        if len(matrix) != len(categories) or any(len(r) != len(categories) for r in matrix):
            raise ValueError(f"Invalid matrix: {matrix} passed for categories: {categories}")
        for category, row in zip(categories, matrix):
            self.log_confusion_matrix_row(category, row)


class SlicedClassificationMetrics(Artifact):
    """ClassificationMetrics per slice, kept in metadata under `evaluationSlices`."""

    schema_title = "system.SlicedClassificationMetrics"

    def _slice(self, slice: str) -> ClassificationMetrics:
        if not hasattr(self, "_sliced_metrics"):
            self._sliced_metrics = {}
        return self._sliced_metrics.setdefault(slice, ClassificationMetrics())

    def _update_metadata(self) -> None:
        self.metadata = {"evaluationSlices": [
            {"slice": s, "sliceClassificationMetrics": m.metadata}
            for s, m in self._sliced_metrics.items()
        ]}

    def log_roc_reading(self, slice: str, threshold: float, tpr: float, fpr: float) -> None:
        self._slice(slice).log_roc_data_point(fpr=fpr, tpr=tpr, threshold=threshold)
        self._update_metadata()

    def load_roc_readings(self, slice: str, readings: List[List[float]]) -> None:
        for threshold, tpr, fpr in readings:
            self._slice(slice).log_roc_data_point(fpr=fpr, tpr=tpr, threshold=threshold)
        self._update_metadata()

    def set_confusion_matrix_categories(self, slice: str, categories: List[str]) -> None:
        self._slice(slice).set_confusion_matrix_categories(categories)
        self._update_metadata()

    def log_confusion_matrix_row(self, slice: str, row_category: str, row: List[int]) -> None:
        self._slice(slice).log_confusion_matrix_row(row_category, row)
        self._update_metadata()

    def log_confusion_matrix_cell(self, slice: str, row_category: str, col_category: str,
                                  value: int) -> None:
        self._slice(slice).log_confusion_matrix_cell(row_category, col_category, value)
        self._update_metadata()

    def load_confusion_matrix(self, slice: str, categories: List[str],
                              matrix: List[List[int]]) -> None:
        self._slice(slice).log_confusion_matrix(categories, matrix)
        self._update_metadata()


class HTML(Artifact):
    schema_title = "system.HTML"


class Markdown(Artifact):
    schema_title = "system.Markdown"


_SCHEMA_TITLE_TO_TYPE = {
    cls.schema_title: cls for cls in [
        Artifact, Model, Dataset, Metrics, ClassificationMetrics, SlicedClassificationMetrics,
        HTML, Markdown
    ]
}

# The directory of the executor output file, set by the executor (for get_uri).
CONTAINER_TASK_ROOT: Optional[str] = None


def get_uri(suffix: str = "Output") -> str:
    """A URI under the task's root, for outputs a component names itself."""
    if CONTAINER_TASK_ROOT is None:
        raise RuntimeError("'dsl.get_uri' can only be called at task runtime.")
    return os.path.join(uri_for_local_path(CONTAINER_TASK_ROOT), suffix)
