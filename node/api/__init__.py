"""The node's HTTP API: transaction submission, reads, certificates and history proofs."""
