"""The participants' portal (``fcl portal``): a local web application that unlocks one
keystore key in memory and offers the forms of its organisation's role, each checked by a
dry run on the node before it is signed here and submitted. See ``docs/portal.md``.

Layer rule: ``portal`` imports ``ledger``, ``chaincode`` (argument schemas, the area
check) and ``wallet`` (keystore, node client); never ``node`` or ``explorer``.
"""
