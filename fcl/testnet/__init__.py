"""``fcl testnet``: the genesis, keys and configuration of an N-validator network."""
