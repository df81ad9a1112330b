"""`python3 -m kfp.dsl.executor_main`: KFP's component entry point (skiff's implementation).

Arguments as KFP's: --component_module_path FILE (the component's source), --function_to_execute
NAME, --executor_input JSON; unknown arguments are ignored. A component that raises exits with
status 1 and its traceback on stderr.
"""

import argparse
import importlib
import json
import logging
import os
import sys

from kfp.dsl import executor as component_executor


def _load_module(module_path: str):
    directory = os.path.dirname(os.path.abspath(module_path))
    name = os.path.basename(module_path)
    if name.endswith(".py"):
        name = name[:-len(".py")]
    sys.path.insert(0, directory)
    return importlib.import_module(name)


def executor_main(argv=None) -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="[KFP Executor %(asctime)s %(levelname)s]: %(message)s")
    parser = argparse.ArgumentParser(description="KFP Component Executor (skiff).")
    parser.add_argument("--component_module_path", type=str)
    parser.add_argument("--function_to_execute", type=str, required=True)
    parser.add_argument("--executor_input", type=str, required=True)
    args, _ = parser.parse_known_args(argv)

    if not args.component_module_path:
        raise RuntimeError("--component_module_path is required: skiff's kfp package does not "
                           "read kfp_config.ini (containerized Python components need the real "
                           "kfp in their image)")
    func_name = args.function_to_execute
    logging.info(f"Loading KFP component `{func_name}` from {args.component_module_path}")
    try:
        module = _load_module(args.component_module_path)
        executor_input = json.loads(args.executor_input)
        function_to_execute = getattr(module, func_name, None)
        if function_to_execute is None:
            raise RuntimeError(f"No function `{func_name}` in {args.component_module_path}")
        executor = component_executor.Executor(executor_input=executor_input,
                                               function_to_execute=function_to_execute)
        executor.execute()
    except ModuleNotFoundError as e:
        # The traceback follows; say why the module is missing.
        print(f"skiff: Python module `{e.name}` is not installed. skiff runs KFP lightweight "
              "components without network, so the component's packages_to_install are not "
              "installed: install them for the python3 that runs tasks.", file=sys.stderr)
        raise


if __name__ == "__main__":
    executor_main()
