"""The chain itself: blocks built, checked, executed and committed; their byte codec."""
