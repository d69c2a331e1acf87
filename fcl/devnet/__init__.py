"""``fcl devnet``: a 4-validator network on loopback running the sample lifecycle."""
