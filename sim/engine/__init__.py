"""Engine layer: compile a scenario into schedules, then simulate it with simpy and numpy."""

from sim.engine.compile import Compiled, compile_scenario
from sim.engine.simulation import RawRun, Simulation

__all__ = ["Compiled", "RawRun", "Simulation", "compile_scenario"]
