"""A validator whose own store fails under a contract halts with the store's error; the
failure never becomes a transaction's result.

The executor turns any exception of a contract into that transaction's deterministic
``internal_error``: a LevelDB read that failed under a contract (a damaged table file, a
vanished disk) became one -- a result no other validator computes -- so the node proposed
or expected blocks the others refuse, and halted only at the next commit, on a misleading
``results`` mismatch. The store now raises ``ledger.errors.StorageFailure``
(``store_error``), the executor lets it through, and the driver halts on it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import plyvel
import pytest

from chaincode.executor import Executor
from chaincode.framework import BlockContext
from ledger.errors import StorageFailure
from ledger.store import Store
from node.chain.app import Application
from node.chain.blockcodec import BlockCodec, tx_json_key
from node.consensus import ConsensusConfig
from node.driver.asyncio_driver import ConsensusDriver, DriverConfig, DriverMetrics
from node.driver.signfile import SignStateFile
from node.ops.metrics import Registry
from node.txpool.admission import tx_size
from node.txpool.mempool import Mempool
from tests.support.common import notary_tx


class FailingDB:
    """A LevelDB handle whose reads fail once ``failing`` is set (everything else passes)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.failing = False

    def get(self, *args: Any, **kwargs: Any) -> Any:
        if self.failing:
            raise plyvel.IOError("IO error: table file 000042.ldb: No such file or directory")
        return self._db.get(*args, **kwargs)

    def iterator(self, *args: Any, **kwargs: Any) -> Any:
        if self.failing:
            raise plyvel.CorruptionError("Corruption: block checksum mismatch")
        return self._db.iterator(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def _failing(store: Store) -> FailingDB:
    wrapper = FailingDB(store._db)
    store._db = wrapper  # type: ignore[assignment]
    return wrapper


def test_a_failed_read_is_a_storage_failure_and_never_a_result(
    tmp_path: Path, genesis, validator_key, regulator_key
) -> None:
    with Store(tmp_path / "db") as store:
        app = Application(store, Executor(), genesis)
        assert store.get(f"key/{regulator_key.public_key_hex}") is not None
        db = _failing(store)
        db.failing = True
        for read in (lambda: store.get("org/regulator"),
                     lambda: list(store.iter_prefix("org/")),
                     lambda: store.last_at_or_before("org/", "org/zz")):
            with pytest.raises(StorageFailure) as caught:
                read()
            assert caught.value.code == "store_error"
            assert "the store cannot be read" in caught.value.message
        ctx = BlockContext(app.chain_id, 1, genesis.genesis_time + 1000,
                           validator_key.public_key_hex)
        with pytest.raises(StorageFailure):
            Executor().execute_block(store, ctx, [notary_tx(regulator_key, "doc")])
        db.failing = False  # the same block on a store that reads: an ordinary result
        execution = Executor().execute_block(store, ctx, [notary_tx(regulator_key, "doc")])
        assert execution.results[0]["code"] == "ok"


def test_a_validator_whose_store_fails_halts(
    tmp_path: Path, genesis, validator_key, regulator_key
) -> None:
    async def scenario() -> tuple[BaseException | None, ConsensusDriver, int]:
        store = Store(tmp_path / "db")
        pool = Mempool()
        app = Application(store, Executor(), genesis, verified=pool.verified)
        driver = ConsensusDriver(
            app, pool, validator_key, codec=BlockCodec(app.chain_id, pool.by_json_key),
            sign_file=SignStateFile(tmp_path / "ss"), metrics=DriverMetrics(Registry()),
            config=DriverConfig(block_interval_ms=5), consensus_config=ConsensusConfig(),
        )
        task = asyncio.create_task(driver.run())
        try:
            first = notary_tx(regulator_key, "d0")
            pool.add(first, tx_size(first), tx_json_key(first.to_json()))
            driver.notify()
            while store.get_tx_location(first.tx_id) is None:
                await asyncio.sleep(0.01)
            height = app.height
            _failing(store).failing = True
            second = notary_tx(regulator_key, "d1")
            pool.add(second, tx_size(second), tx_json_key(second.to_json()))
            driver.notify()
            done, _ = await asyncio.wait({task}, timeout=20)
            assert done, "the driver went on with a store that cannot be read"
            return task.exception(), driver, app.height - height
        finally:
            if not task.done():
                driver.stop()
                await asyncio.wait_for(task, 10)
            store.close()

    failure, driver, added = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert isinstance(failure, StorageFailure) and failure.code == "store_error"
    assert driver.halted is not None and "store_error" in driver.halted
    assert added == 0  # no block was made from the failed reads
