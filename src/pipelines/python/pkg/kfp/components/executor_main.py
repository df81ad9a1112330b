"""KFP 2.0 ran `python3 -m kfp.components.executor_main`: the same executor."""

from kfp.dsl.executor_main import executor_main

if __name__ == "__main__":
    executor_main()
