"""capsim plan: choose what to buy (commitments, blocks) against a portfolio of what-if worlds."""
