"""generators: launch commands and config files for the frameworks that run a plan."""
from .launch import launch_command

__all__ = ["launch_command"]
