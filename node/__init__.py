"""The validator, grouped by the stages a transaction passes through:

* ``api/``       -- the HTTP API: ``POST /v1/txs`` and the reads (FastAPI), certificates,
                    history proofs, the error vocabulary of the OpenAPI document;
* ``txpool/``    -- admission of a transaction (size, schema, chain id, signatures, replay),
                    the mempool, and gossip of transactions to peers;
* ``consensus/`` -- the Tendermint algorithm as a sans-I/O state machine;
* ``chain/``     -- the application: building, checking, executing and committing blocks,
                    and the block/proposal byte codec;
* ``driver/``    -- the asyncio driver that runs the consensus core (and the solo driver),
                    the persisted sign state;
* ``net/``       -- peer transport: frames, the authenticated handshake, the peer manager;
* ``sync/``      -- catching up: committed blocks fetched from peers;
* ``ops/``       -- logs, metrics, profiling;
* ``home.py``    -- a node's home directory (config, keys); ``runtime.py`` wires it all.

``node`` imports ``ledger`` and ``chaincode`` only; only the ``fcl`` command imports it.
"""
