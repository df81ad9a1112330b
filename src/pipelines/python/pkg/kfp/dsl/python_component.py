"""The decorators component sources may use (@dsl.component and friends).

At run time a component module is only imported, so the decorators just have to return an
object the executor can use: as in KFP, `component` returns a PythonComponent whose
`python_func` is the decorated function.
"""

import functools


class PythonComponent:
    """A decorated function; calling it calls the function (handy for local tests)."""

    def __init__(self, python_func, **options):
        self.python_func = python_func
        self.options = options
        self.name = python_func.__name__
        functools.update_wrapper(self, python_func)

    def __call__(self, *args, **kwargs):
        return self.python_func(*args, **kwargs)


def _decorator(factory):
    def decorate(func=None, **options):
        if func is None:
            return lambda f: factory(f, **options)
        return factory(func, **options)

    return decorate


component = _decorator(PythonComponent)
container_component = _decorator(PythonComponent)
notebook_component = _decorator(PythonComponent)


def _pipeline(func, **options):
    func.pipeline_options = options
    return func


pipeline = _decorator(_pipeline)
