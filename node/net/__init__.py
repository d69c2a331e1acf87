"""Peer transport: length-prefixed frames, the authenticated handshake, the peer manager."""
