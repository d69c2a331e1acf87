"""Block sync: a node that is behind fetches committed blocks and their commit certificates from its peers."""
