"""Latency from load: time to first token of an inference service, per step, from a queueing
model of the slots of its fleet (`model`), the request sizes it needs (`inputs`, used by the
compiler), and a request-level simulation of the same fleet to check it against (`reference`)."""

from sim.latency.model import StepLatency, erlang_c, step_latency, ttft_quantiles, year_quantiles

__all__ = ["StepLatency", "erlang_c", "step_latency", "ttft_quantiles", "year_quantiles"]
