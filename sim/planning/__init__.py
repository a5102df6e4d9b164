"""capsim plan (`sim.plan`, `capsim plan`): choose what to buy (commitments, blocks) against a
portfolio of what-if worlds: propose with a fluid model, check with the engine, keep the best."""
