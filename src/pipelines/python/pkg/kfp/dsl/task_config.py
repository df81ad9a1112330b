"""TaskConfig: the task's Kubernetes settings some KFP components receive (informational)."""


class TaskConfig:
    """As KFP's dataclass (a plain class here: dataclasses would slow every task's start)."""

    def __init__(self, affinity=None, tolerations=None, node_selector=None, env=None,
                 volumes=None, volume_mounts=None, resources=None):
        self.affinity = affinity
        self.tolerations = tolerations
        self.node_selector = node_selector
        self.env = env
        self.volumes = volumes
        self.volume_mounts = volume_mounts
        self.resources = resources

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"TaskConfig({fields})"
