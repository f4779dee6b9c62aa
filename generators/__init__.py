"""generators: launch commands and config files for the frameworks that run a plan."""
from .disagg_launch import LaunchBundle, WorkerSpec, disagg_launch
from .replica import ReplicaLaunch, launch_command, replica_launch

__all__ = ["LaunchBundle", "ReplicaLaunch", "WorkerSpec", "disagg_launch", "launch_command", "replica_launch"]
