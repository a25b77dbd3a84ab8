"""Ape-X-style parallel actors for SAC, TD3/DDPG, TQC and CrossQ: local processes by default, Ray for clusters."""

from sb3_large.apex.chunk import ActorFailure, Chunk, Transitions
from sb3_large.apex.collector import ApeXCollector

__all__ = ["ActorFailure", "ApeXCollector", "Chunk", "Transitions"]
