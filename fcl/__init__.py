"""The ``fcl`` command: the composition root that may import every package.

* ``main.py``     -- the entry point and ``fcl node``;
* ``verify.py``   -- ``fcl verify`` (a retirement certificate, offline);
* ``audit/``      -- ``fcl audit``: re-verification of a whole chain from genesis;
* ``devnet/``     -- ``fcl devnet``: a local network running the sample lifecycle;
* ``testnet/``    -- ``fcl testnet``: the files of an N-validator network;
* ``bench.py``    -- ``fcl bench``: a real network under load.
"""
