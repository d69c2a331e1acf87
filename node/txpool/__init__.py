"""Where a transaction waits: admission checks, the mempool, and gossip to peers."""
