"""generators: launch commands and config files for the frameworks that run a plan."""
from .disagg_launch import LaunchBundle, WorkerSpec, disagg_launch
from .launch import launch_command

__all__ = ["LaunchBundle", "WorkerSpec", "disagg_launch", "launch_command"]
