"""External validation: capsim against queueing theory (Erlang B and C, Little's law), against an
independent simulator (ciw), and conservation of accelerator-hours on every shipped scenario."""
